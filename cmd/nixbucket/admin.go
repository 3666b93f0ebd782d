package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/backend"
)

// admin is an open data directory for the user, token and bucket commands.
// They write the metadata store directly, so they work while the server
// runs; the server sees each change on its next request.
type admin struct {
	store  meta.Store
	access *access.Service
	ctx    context.Context
}

func openAdmin(data string) (*admin, error) {
	store, err := backend.OpenExisting(data)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no nixbucket data in %s (start `nixbucket serve --data %s` once, or pass --data): %w", data, data, err)
	}
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	account, err := store.Setting(ctx, "account")
	if err != nil {
		store.Close()
		return nil, err
	}
	return &admin{store: store, access: access.New(store, access.Options{Account: account}), ctx: ctx}, nil
}

func (a *admin) Close() error { return a.store.Close() }

// dataFlag adds the --data flag every command takes.
func dataFlag(fs *flag.FlagSet) *string {
	return fs.String("data", envOr("NIXBUCKET_DATA", "./nixbucket-data"), "data directory (env NIXBUCKET_DATA)")
}

// parse parses flags placed anywhere among the arguments, and checks the
// number of positional ones.
func parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int, usage string) ([]string, error) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: nixbucket %s\n", usage)
		fs.PrintDefaults()
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < minArgs || len(pos) > maxArgs {
		fs.Usage()
		return nil, fmt.Errorf("usage: nixbucket %s", usage)
	}
	return pos, nil
}

// readPolicy reads a policy document from a file ("-" for stdin).
func readPolicy(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	const max = 1 << 20
	in := os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("reading policy: %w", err)
		}
		defer f.Close()
		in = f
	}
	b, err := io.ReadAll(io.LimitReader(in, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading policy %s: %w", path, err)
	}
	if len(b) > max {
		return nil, fmt.Errorf("reading policy %s: larger than 1 MiB", path)
	}
	return b, nil
}

// parseTTL reads durations such as 30d, 12h or 90m.
func parseTTL(s string) (time.Duration, error) {
	if s == "" || s == "0" || s == "never" {
		return 0, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(n * 24 * float64(time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad duration %q (use e.g. 30d, 12h, 90m)", s)
	}
	return d, nil
}

// credentialsSection formats a key as an AWS shared-credentials section.
func credentialsSection(profile string, k meta.AccessKey) string {
	return fmt.Sprintf("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", profile, k.ID, k.Secret)
}
