package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/client/target"
	"github.com/nixbucket/nixbucket/internal/nixconf"
)

const useUsage = `use URL [--write] [--nix-conf FILE] [--netrc-file FILE] [--netrc-user USER --netrc-password PASS|-] [--key KEY]...

Sets Nix up to substitute from the binary cache at URL, as cachix use and
attic use do. URL is http(s)://HOST[:PORT]/BUCKET, or
s3://BUCKET?endpoint=HOST[:PORT]&scheme=http|https. It reads the cache's
nix-cache-info and public keys (GET /-/keys/BUCKET on a nixbucket server;
--key gives them for other caches, and then URL may be any cache's, such
as https://cache.nixos.org, a nixbucket proxy, or s3://BUCKET on AWS,
which is not read) and prints the nix.conf lines
  extra-substituters = URL
  extra-trusted-public-keys = KEY...
and, when credentials are given (--netrc-user and --netrc-password, or
http://USER:PASS@HOST/BUCKET), the netrc line for HOST. A private cache
needs credentials to be read: they come from those flags, or from the
entry for HOST in --netrc-file.

--write adds the lines that are missing to nix.conf (--nix-conf FILE;
default ~/.config/nix/nix.conf, or /etc/nix/nix.conf as root), keeping
every line there, and, with --netrc-file and credentials, sets HOST's
line in that netrc (mode 0600). Run twice, it adds nothing.`

// useCmd prints or writes the configuration Nix needs to use a cache.
func useCmd(args []string) error {
	fl := flag.NewFlagSet("use", flag.ContinueOnError)
	write := fl.Bool("write", false, "add the lines to nix.conf (and the netrc line to --netrc-file)")
	confFile := fl.String("nix-conf", "", "nix.conf to write (default ~/.config/nix/nix.conf, /etc/nix/nix.conf as root)")
	netrcFile := fl.String("netrc-file", "", "netrc file: credentials for reading the cache, and with --write where the netrc line goes")
	user := fl.String("netrc-user", "", "login for the cache (an access key id or a token's user)")
	pass := fl.String("netrc-password", "", `password for the cache ("-" reads it from stdin)`)
	var keys multiFlag
	fl.Var(&keys, "key", "a public key NAME:BASE64 to trust, instead of asking the server (repeatable)")
	pos, err := parse(fl, args, 1, 1, useUsage)
	if err != nil {
		return err
	}
	trustNixCerts()
	if _, err := nixconf.PublicKeys(strings.Join(keys, " ")); err != nil {
		return fmt.Errorf("use: --key: %w", err)
	}
	c, err := parseCacheURL(pos[0], len(keys) > 0)
	if err != nil {
		return fmt.Errorf("use: %w", err)
	}
	if *user != "" || *pass != "" {
		if *user == "" || *pass == "" {
			return errors.New("use: --netrc-user and --netrc-password go together")
		}
		c.login, c.password, c.given = *user, *pass, true
		if *pass == "-" {
			line, err := bufio.NewReader(os.Stdin).ReadString('\n')
			if err != nil && line == "" {
				return fmt.Errorf("use: reading the password from stdin: %w", err)
			}
			c.password = strings.TrimRight(line, "\r\n")
		}
	}
	var netrcText []byte
	if *netrcFile != "" {
		netrcText, err = os.ReadFile(*netrcFile)
		if err != nil && !(*write && c.given && errors.Is(err, fs.ErrNotExist)) {
			return fmt.Errorf("use: --netrc-file: %w", err)
		}
		if !c.given {
			c.login, c.password, _ = nixconf.NetrcLookup(netrcText, c.host)
			c.netrcFile = *netrcFile
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if c.base == "" {
		fmt.Fprintf(os.Stderr, "nixbucket: note: %s is read with AWS credentials, which use does not: its nix-cache-info is not checked\n", c.display)
	} else if err := c.checkCacheInfo(ctx); err != nil {
		return fmt.Errorf("use: %w", err)
	}
	if len(keys) == 0 {
		if keys, err = c.fetchKeys(ctx); err != nil {
			return fmt.Errorf("use: %w", err)
		}
	}
	if len(keys) == 0 {
		fmt.Fprintf(os.Stderr, "nixbucket: warning: %s has no signing keys: Nix will refuse its paths while require-sigs is on (give the bucket a key: nixbucket bucket key generate)\n", c.display)
	}
	if !*write {
		printUse(c, keys, *netrcFile)
		return nil
	}
	return writeUse(c, keys, *confFile, *netrcFile, netrcText)
}

// cacheURL is the cache `use` sets up, and how to reach it over HTTP.
type cacheURL struct {
	substituter string // what nix.conf gets: URL without credentials
	display     string // for messages
	base        string // http(s)://HOST[:PORT] to fetch from; "" for an S3 cache on AWS
	path        string // the cache's path under base: "/BUCKET", or "" at the root
	bucket      string // the bucket /-/keys/ is asked about; "" when the URL names none
	host        string // netrc machine name
	isHTTP      bool   // Nix reads it over HTTP, so netrc applies

	login, password string
	given           bool   // credentials came from flags or the URL
	netrcFile       string // where login and password were looked up, if there
}

// parseCacheURL reads a cache's URL. A nixbucket bucket is
// http(s)://HOST[:PORT]/BUCKET or s3://BUCKET?endpoint=HOST[:PORT]; with
// keys given (--key), use asks the server for none, so any cache will do:
// one at the root of its host (cache.nixos.org, nixbucket proxy) or under
// a deeper path, and s3://BUCKET on AWS (which use cannot read unsigned,
// so it checks nothing there).
func parseCacheURL(raw string, keysGiven bool) (*cacheURL, error) {
	if !strings.Contains(raw, "://") {
		return nil, fmt.Errorf("cache URL %q has no scheme: want http://HOST[:PORT]/BUCKET (or https://…, or s3://BUCKET?endpoint=HOST[:PORT])", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("cache URL %q: %v", raw, errors.Unwrap(err))
	}
	c := &cacheURL{}
	switch u.Scheme {
	case "http", "https":
		p := strings.Trim(u.Path, "/")
		if u.Host == "" {
			return nil, fmt.Errorf("cache URL %q: want %s://HOST[:PORT]/BUCKET", raw, u.Scheme)
		}
		if p == "" || strings.Contains(p, "/") {
			if !keysGiven {
				return nil, fmt.Errorf("cache URL %q: want %s://HOST[:PORT]/BUCKET (a nixbucket bucket, whose keys use asks for); for another cache, give its public keys with --key NAME:KEY", raw, u.Scheme)
			}
		} else {
			c.bucket = p
		}
		if p != "" {
			c.path = "/" + p
		}
		if u.User != nil {
			c.login = u.User.Username()
			c.password, _ = u.User.Password()
			c.given = c.password != ""
			u.User = nil
		}
		c.base, c.host, c.isHTTP = u.Scheme+"://"+u.Host, u.Hostname(), true
		u.Path = c.path
		c.substituter = u.String()
		c.display = c.base + c.path
	case "s3":
		q := u.Query()
		c.bucket = u.Host
		ep := q.Get("endpoint")
		if c.bucket == "" || ep == "" && !keysGiven {
			return nil, fmt.Errorf("cache URL %q: want s3://BUCKET?endpoint=HOST[:PORT] (the keys are read over HTTP from the endpoint; for other S3 caches pass --key)", raw)
		}
		c.substituter, c.display = raw, "s3://"+c.bucket
		if ep == "" {
			return c, nil // on AWS: nothing use can read unsigned
		}
		if !strings.Contains(ep, "://") {
			scheme := q.Get("scheme")
			if scheme == "" {
				scheme = "https"
			}
			ep = scheme + "://" + ep
		}
		e, err := url.Parse(ep)
		if err != nil || e.Host == "" {
			return nil, fmt.Errorf("cache URL %q: endpoint %q: want HOST[:PORT]", raw, q.Get("endpoint"))
		}
		c.base, c.host = e.Scheme+"://"+e.Host, e.Hostname()
		c.path = "/" + c.bucket
		c.display = c.base + c.path
	default:
		return nil, fmt.Errorf("cache URL %q: want http(s)://HOST[:PORT]/BUCKET or s3://BUCKET?endpoint=HOST[:PORT]", raw)
	}
	return c, nil
}

// get fetches path under the server's base URL with the credentials.
func (c *cacheURL) get(ctx context.Context, path string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return 0, "", err
	}
	if c.password != "" {
		req.SetBasicAuth(c.login, c.password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if m := target.SchemeMistake(c.base, "use an http:// URL (in an s3:// URL, scheme=http)", err); m != nil {
			return 0, "", m
		}
		return 0, "", fmt.Errorf("cannot reach %s: %w", c.base, errors.Unwrap(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, "", fmt.Errorf("reading %s%s: %w", c.base, path, err)
	}
	return resp.StatusCode, string(b), nil
}

// refusal says why a server refused to answer, and what to do about it;
// body is the answer's.
func (c *cacheURL) refusal(what string, status int, body string) error {
	switch status {
	case http.StatusUnauthorized:
		if c.password != "" {
			return fmt.Errorf("%s: the server does not accept the credentials for %s (unknown access key or wrong password)", what, c.host)
		}
		if c.netrcFile != "" {
			return fmt.Errorf("%s: the cache is private, and %s has no line for %s%s: add \"machine %s login NAME password SECRET\" there, or give --netrc-user and --netrc-password",
				what, c.netrcFile, c.host, target.NetrcMiss(c.netrcFile, c.host), c.host)
		}
		return fmt.Errorf("%s: the cache is private: give credentials with --netrc-user and --netrc-password, or --netrc-file FILE holding a line for %s", what, c.host)
	case http.StatusForbidden:
		if c.password != "" {
			return fmt.Errorf("%s: refused (403): unknown access key or wrong password for %s, or credentials that may not read the cache", what, c.host)
		}
		return fmt.Errorf("%s: refused (403): anonymous callers may not read it; give credentials with --netrc-user and --netrc-password, or --netrc-file FILE", what)
	case http.StatusNotFound:
		if c.bucket == "" {
			return fmt.Errorf("%s: not found (404): no binary cache there?", what)
		}
		return fmt.Errorf("%s: not found (404): no bucket %q there?", what, c.bucket)
	default:
		// nixbucket says in a line of plain text what is wrong (a URL
		// that is no cache: which caches there are).
		if line, _, _ := strings.Cut(strings.TrimSpace(body), "\n"); line != "" && len(line) < 1024 && !strings.ContainsAny(line, "<>") {
			return fmt.Errorf("%s: HTTP %d: %s", what, status, target.Printable(line))
		}
		return fmt.Errorf("%s: HTTP %d", what, status)
	}
}

// checkCacheInfo makes sure the URL is a Nix binary cache this client
// may read, for the store Nix uses here.
func (c *cacheURL) checkCacheInfo(ctx context.Context) error {
	what := c.display + "/nix-cache-info"
	status, body, err := c.get(ctx, c.path+"/nix-cache-info")
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return c.refusal(what, status, body)
	}
	for _, line := range strings.Split(body, "\n") {
		if dir, ok := strings.CutPrefix(line, "StoreDir:"); ok {
			if dir = strings.TrimSpace(dir); dir != "/nix/store" {
				fmt.Fprintf(os.Stderr, "nixbucket: warning: the cache holds paths of store %q, not /nix/store\n", dir)
			}
			return nil
		}
	}
	return fmt.Errorf("%s is not a Nix binary cache (no StoreDir in its nix-cache-info)", what)
}

// fetchKeys asks a nixbucket server for the bucket's public keys.
func (c *cacheURL) fetchKeys(ctx context.Context) ([]string, error) {
	what := c.base + "/-/keys/" + c.bucket
	status, body, err := c.get(ctx, "/-/keys/"+c.bucket)
	if err != nil {
		return nil, err
	}
	if status == http.StatusNotFound {
		return nil, fmt.Errorf("%s: not found (404): if the cache is not served by nixbucket, give its public keys with --key NAME:KEY", what)
	}
	if status != http.StatusOK {
		return nil, c.refusal(what, status, body)
	}
	keys, err := nixconf.PublicKeys(body)
	if err != nil {
		return nil, fmt.Errorf("%s: the answer is no list of public keys (is this a nixbucket server? if not, give its keys with --key NAME:KEY): %w", what, err)
	}
	return keys, nil
}

// printUse prints the lines for nix.conf and the netrc.
func printUse(c *cacheURL, keys []string, netrcFile string) {
	fmt.Printf("# nix.conf (~/.config/nix/nix.conf, or /etc/nix/nix.conf for every user):\n")
	fmt.Printf("extra-substituters = %s\n", c.substituter)
	if len(keys) > 0 {
		fmt.Printf("extra-trusted-public-keys = %s\n", strings.Join(keys, " "))
	}
	if netrcFile != "" && c.isHTTP && c.password != "" {
		if abs, _ := filepath.Abs(netrcFile); abs != defaultNetrc {
			fmt.Printf("netrc-file = %s\n", abs)
		}
	}
	if c.given && c.isHTTP {
		fmt.Printf("\n# netrc (Nix's netrc-file, /etc/nix/netrc by default; mode 0600):\n")
		fmt.Println(nixconf.NetrcLine(c.host, c.login, c.password))
	}
	fmt.Printf("\n# Run again with --write to add them (missing lines only).\n")
}

// defaultNetrc is Nix's netrc-file when nix.conf names none.
const defaultNetrc = "/etc/nix/netrc"

// defaultNixConf is the nix.conf `use --write` edits: the system one for
// root ($NIX_CONF_DIR/nix.conf, /etc/nix/nix.conf by default), the user's
// own otherwise (the first of $NIX_USER_CONF_FILES, else
// $XDG_CONFIG_HOME/nix/nix.conf), where Nix reads them.
func defaultNixConf() (string, error) {
	if os.Geteuid() == 0 {
		if dir := os.Getenv("NIX_CONF_DIR"); dir != "" {
			return filepath.Join(dir, "nix.conf"), nil
		}
		return "/etc/nix/nix.conf", nil
	}
	if files := filepath.SplitList(os.Getenv("NIX_USER_CONF_FILES")); len(files) > 0 && files[0] != "" {
		return files[0], nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding your nix.conf (pass --nix-conf FILE): %w", err)
	}
	return filepath.Join(dir, "nix", "nix.conf"), nil
}

// writeUse adds what is missing to nix.conf and, with credentials, the
// netrc line to netrcFile.
func writeUse(c *cacheURL, keys []string, confFile, netrcFile string, netrcText []byte) error {
	if confFile == "" {
		var err error
		if confFile, err = defaultNixConf(); err != nil {
			return fmt.Errorf("use: %w", err)
		}
	}
	text, err := os.ReadFile(confFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("use: %w", err)
	}
	conf := nixconf.Parse(text)
	added := conf.AddCache(c.substituter, keys)
	if netrcFile != "" && c.isHTTP && c.password != "" {
		abs, err := filepath.Abs(netrcFile)
		if err != nil {
			return err
		}
		switch cur := conf.Value("netrc-file"); {
		case cur == "" && abs != defaultNetrc:
			conf.Add("netrc-file", abs)
			added = append(added, "netrc-file = "+abs)
		case cur != "" && cur != abs:
			fmt.Fprintf(os.Stderr, "nixbucket: warning: %s already reads credentials from netrc-file = %s, not %s: left as it is\n", confFile, cur, abs)
		}
	}
	if len(added) == 0 {
		fmt.Printf("%s already uses %s and trusts its keys: nothing to add\n", confFile, c.substituter)
	} else {
		if err := nixconf.WriteFile(confFile, conf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("use: writing %s: %w", confFile, err)
		}
		fmt.Printf("added to %s:\n  %s\n", confFile, strings.Join(added, "\n  "))
	}
	if netrcFile == "" && c.given && c.isHTTP {
		fmt.Printf("add this line to Nix's netrc-file (%s unless nix.conf names another), or run again with --netrc-file FILE:\n%s\n",
			defaultNetrc, nixconf.NetrcLine(c.host, c.login, c.password))
	}
	if netrcFile != "" && c.given && c.isHTTP {
		out, changed := nixconf.NetrcSet(netrcText, c.host, c.login, c.password)
		if changed {
			if err := nixconf.WritePrivate(netrcFile, out); err != nil {
				return fmt.Errorf("use: writing %s: %w", netrcFile, err)
			}
			fmt.Printf("set the line for %s in %s\n", c.host, netrcFile)
		}
	}
	if os.Geteuid() != 0 {
		fmt.Fprintf(os.Stderr, "nixbucket: note: when nix-daemon serves the store, it uses a substituter a user adds only if the user is in trusted-users, or the URL in trusted-substituters (in /etc/nix/nix.conf), and reads its own netrc-file (/etc/nix/netrc)\n")
	}
	return nil
}

// multiFlag is a flag that may be given more than once.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, strings.Fields(v)...); return nil }
