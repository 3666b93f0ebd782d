package main

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/nixbucket/nixbucket/internal/meta/backend"
	"github.com/nixbucket/nixbucket/internal/server"
)

const infoUsage = `info [--data DIR] [--endpoint URL] [--show-secrets]

Prints the first start's banner again, from the data directory, at any
time (the server may be running): the endpoint, the admin access key id,
every bucket with its public keys, the netrc line, and paste-ready Nix
and aws commands. The endpoint is the address the server last listened
on; --endpoint overrides it (e.g. http://cache.example.org:9000).

The admin secret is not printed, as on the first start (the banner goes
to logs): it is in DIR/credentials and DIR/netrc (mode 0600), and the
text says how to read it. --show-secrets prints the netrc line whole.`

// infoCmd prints the banner of the server whose data is in --data.
func infoCmd(args []string) error {
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	data := dataFlag(fs)
	endpoint := fs.String("endpoint", "", "base URL clients reach the server at (default: where it last listened)")
	show := fs.Bool("show-secrets", false, "print the admin secret in the netrc line")
	if _, err := parse(fs, args, 0, 0, infoUsage); err != nil {
		return err
	}
	dir, err := filepath.Abs(*data)
	if err != nil {
		return err
	}
	a, err := openAdmin(dir)
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := server.ReadBanner(a.ctx, a.store, a.access, dir)
	if err != nil {
		return fmt.Errorf("info: %w", err)
	}
	if metaURL != "" {
		b.Meta = backend.Redact(metaURL)
		// On PostgreSQL the admin key lives in the database, and each
		// server writes its files to its own --data: the text below names
		// files that, in a directory no server used, do not exist.
		if _, err := os.Stat(filepath.Join(dir, "credentials")); err != nil {
			fmt.Fprintf(os.Stderr, "nixbucket: %s holds no credentials file: with --meta each server writes the admin key to its own data directory; pass --data NODE_DIR (a server's) for the files named below, or --show-secrets to print the secret\n", dir)
		}
	}
	if *endpoint != "" {
		if b.Endpoint, b.Other, err = parseEndpoint(*endpoint); err != nil {
			return fmt.Errorf("info: --endpoint: %w", err)
		}
	}
	if b.Endpoint == "" {
		b.Endpoint = "http://127.0.0.1:9000"
		fmt.Fprintf(os.Stderr, "nixbucket: the server in %s has not recorded where it listens (it records it on every start); assuming %s, pass --endpoint URL to set it\n", dir, b.Endpoint)
	}
	if *show {
		keys, err := a.store.AccessKeys(a.ctx)
		if err != nil {
			return fmt.Errorf("info: %w", err)
		}
		for _, k := range keys {
			if k.ID == b.RootKeyID {
				b.RootSecret = k.Secret
			}
		}
	}
	fmt.Print(b.String())
	return nil
}

// parseEndpoint checks a base URL given by the user and makes a wildcard
// host in it usable, as for a listen address.
func parseEndpoint(s string) (endpoint, other string, err error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", fmt.Errorf("%q: want http://HOST[:PORT] or https://HOST[:PORT]", s)
	}
	if strings.Trim(u.Path, "/") != "" {
		return "", "", fmt.Errorf("%q: want the server's base URL, without a bucket or path", s)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return u.Scheme + "://" + u.Host, "", nil
	}
	endpoint, other = server.UsableEndpoint(u.Scheme, u.Host)
	return endpoint, other, nil
}
