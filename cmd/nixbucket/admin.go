package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/backend"
	"github.com/nixbucket/nixbucket/internal/meta/migration"
	"github.com/nixbucket/nixbucket/internal/server"
)

// admin is an open data directory for the user, token and bucket commands.
// They write the metadata store directly, so they work while the server
// runs; the server sees each change on its next request.
type admin struct {
	store  meta.Store
	access *access.Service
	ctx    context.Context
}

// olderSchema explains the refusal of a metadata store whose schema is older
// than this binary's: only a server's start upgrades it, once the operator
// has stopped the older servers and backed up. (An admin command that
// upgraded it would do so behind the back of older servers still running,
// which could then not restart, and without a backup to go back to.)
func olderSchema(err error, serve string) error {
	var older *migration.OlderError
	if !errors.As(err, &older) {
		return err
	}
	return fmt.Errorf("%w: an older nixbucket wrote this metadata, and this one upgrades it only when its server starts: stop the servers of the older version, back up (README: Backups and upgrades), then run %s", err, serve)
}

func openAdmin(data string) (*admin, error) {
	store, err := backend.OpenExisting(data, metaURL)
	if errors.Is(err, fs.ErrNotExist) && metaURL != "" {
		m := backend.Redact(metaURL)
		return nil, fmt.Errorf("no nixbucket data in %s (start `nixbucket serve --meta %s` once): %w", m, m, err)
	}
	if errors.Is(err, fs.ErrPermission) && metaURL == "" {
		if aerr := server.CheckAccess(data); aerr != nil {
			return nil, aerr
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(filepath.Join(data, "credentials")); serr == nil {
			// A server ran here, on a metadata store of its own.
			return nil, fmt.Errorf("no nixbucket data in %s: its server keeps its metadata elsewhere; pass the server's --meta postgres://… (or set NIXBUCKET_META): %w", data, err)
		}
		return nil, fmt.Errorf("no nixbucket data in %s (start `nixbucket serve --data %s` once, or pass the server's --data DIR, or set NIXBUCKET_DATA): %w", data, data, err)
	}
	if err != nil {
		serve := "nixbucket serve --data " + data
		if metaURL != "" {
			serve = "nixbucket serve --meta " + backend.Redact(metaURL)
		}
		return nil, olderSchema(err, serve)
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

// metaURL is the --meta flag dataFlag adds: the metadata store's URL,
// empty for the data directory's. openAdmin opens it.
var metaURL string

// dataFlag adds the --data flag every command takes, and --meta beside it.
func dataFlag(fs *flag.FlagSet) *string {
	fs.StringVar(&metaURL, "meta", os.Getenv("NIXBUCKET_META"), "metadata store URL, postgres://USER@HOST:PORT/DB; empty: the data directory's (env NIXBUCKET_META)")
	return fs.String("data", envOr("NIXBUCKET_DATA", "./nixbucket-data"), "data directory (env NIXBUCKET_DATA)")
}

// blobsFlag adds --blobs to the commands that read or write blobs.
func blobsFlag(fs *flag.FlagSet) *string {
	return fs.String("blobs", envOr("NIXBUCKET_BLOBS", ""), "the server's blob store, s3://BUCKET/PREFIX?endpoint=…, when not the data directory (env NIXBUCKET_BLOBS)")
}

// parse parses flags placed anywhere among the arguments, and checks the
// number of positional ones. usage is the synopsis after "nixbucket".
// Help and bad flags are handled as parseFlags does; a wrong number of
// arguments is a usageError.
func parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int, usage string) ([]string, error) {
	fs.Usage = leafUsage(fs, usage)
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
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
		return nil, usagef("usage: nixbucket %s", usage)
	}
	return pos, nil
}

// readPolicy reads a policy document from a file ("-" for stdin).
func readPolicy(path string) ([]byte, error) { return readDoc("policy", path) }

// readDoc reads a small document (what names it in errors) from a file
// ("-" for stdin), up to 1 MiB.
func readDoc(what, path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	const max = 1 << 20
	in := os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", what, err)
		}
		defer f.Close()
		in = f
	}
	b, err := io.ReadAll(io.LimitReader(in, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", what, path, err)
	}
	if len(b) > max {
		return nil, fmt.Errorf("reading %s %s: larger than 1 MiB", what, path)
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

// credentialsSection formats a key as an AWS shared-credentials section,
// named for the user unless the user's credentials file already has that
// profile: then the first free NAME-2, NAME-3, … (said on standard error),
// so the section can be appended to the file as it is.
func credentialsSection(name string, k meta.AccessKey) string {
	file := credentialsFile()
	profile := freeProfile(name, existingProfiles(file))
	if profile != name {
		fmt.Fprintf(os.Stderr, "profile [%s] is already in %s: this key is profile [%s]\n", name, file, profile)
	}
	return fmt.Sprintf("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", profile, k.ID, k.Secret)
}

// credentialsFile is the AWS shared credentials file the aws CLI and
// SDKs read: $AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials.
func credentialsFile() string {
	if f := os.Getenv("AWS_SHARED_CREDENTIALS_FILE"); f != "" {
		return f
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".aws", "credentials")
}

// existingProfiles returns the section names in a credentials file; a
// missing or unreadable file has none.
func existingProfiles(file string) map[string]bool {
	seen := map[string]bool{}
	b, err := os.ReadFile(file)
	if err != nil {
		return seen
	}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if name, ok := strings.CutPrefix(line, "["); ok {
			if name, ok := strings.CutSuffix(name, "]"); ok {
				seen[strings.TrimSpace(name)] = true
			}
		}
	}
	return seen
}

// freeProfile returns name, or the first of name-2, name-3, … not in taken.
func freeProfile(name string, taken map[string]bool) string {
	p := name
	for i := 2; taken[p]; i++ {
		p = fmt.Sprintf("%s-%d", name, i)
	}
	return p
}
