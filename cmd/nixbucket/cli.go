package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nixbucket/nixbucket/internal/suggest"
)

// command is one node of the command tree: a group of subcommands, or a
// leaf that runs. Help, the mistyped-command suggestions and the shell
// completion scripts are all made from this one tree, so a new command is
// one line in commandTable.
type command struct {
	name    string
	args    string // what follows the name in a synopsis, e.g. "NAME [--policy FILE]"
	summary string
	run     func(args []string) error // a leaf's
	subs    []*command                // a group's
	note    string                    // a group's: printed after its list of commands
	words   []string                  // a leaf's: positional words to complete
}

func leaf(name, args, summary string, run func([]string) error) *command {
	return &command{name: name, args: args, summary: summary, run: run}
}

func group(name, summary, note string, subs ...*command) *command {
	return &command{name: name, summary: summary, note: note, subs: subs}
}

// via runs fn with words put before the arguments: the table's leaves
// call the existing group functions (userCmd, bucketCmd, …) through it.
func via(fn func([]string) error, words ...string) func([]string) error {
	return func(args []string) error { return fn(append(append([]string(nil), words...), args...)) }
}

const dataNote = "All take --data DIR (env NIXBUCKET_DATA, default ./nixbucket-data), or --meta URL\n(env NIXBUCKET_META) for a PostgreSQL store, and work while the server runs."

// root is the command tree; it is built in init because help refers to it.
var root *command

func init() { root = commandTable() }

func commandTable() *command {
	return group("nixbucket", "a Nix binary cache that speaks S3", "",
		leaf("serve", "[flags]", "run the server", serve),
		group("user", "users, their access keys and IAM policies", dataNote,
			leaf("create", "NAME [--policy FILE]", "create a user and its first access key", via(userCmd, "create")),
			leaf("list", "", "list the users and their access keys", via(userCmd, "list")),
			leaf("delete", "NAME", "delete a user, its keys and tokens", via(userCmd, "delete")),
			group("policy", "the user's IAM policy", dataNote,
				leaf("set", "NAME FILE", `set the user's IAM policy ("-" reads stdin)`, via(userCmd, "policy", "set")),
				leaf("get", "NAME", "print the user's IAM policy", via(userCmd, "policy", "get")),
				leaf("delete", "NAME", "remove the user's IAM policy", via(userCmd, "policy", "delete"))),
			group("key", "the user's access keys", dataNote,
				leaf("create", "NAME", "add an access key (for rotation), as a credentials section", via(userCmd, "key", "create")),
				leaf("disable", "KEY_ID", "refuse requests signed with the key", via(userCmd, "key", "disable")),
				leaf("enable", "KEY_ID", "accept the key again", via(userCmd, "key", "enable")),
				leaf("delete", "KEY_ID", "delete the key", via(userCmd, "key", "delete")))),
		group("token", "tokens for plain-HTTP clients (netrc, Bearer)", "A token acts as its user, narrowed by its own policy when it has one.\n"+dataNote,
			leaf("create", "--user NAME [--expires 30d] [--policy FILE]", "create a token (shown only once)", via(tokenCmd, "create")),
			leaf("list", "", "list the tokens", via(tokenCmd, "list")),
			leaf("revoke", "TOKEN_ID", "revoke a token", via(tokenCmd, "revoke"))),
		group("bucket", "buckets: create, list, delete, policies, CORS, signing keys, settings", dataNote,
			leaf("create", "BUCKET [--public]", "create a bucket with a signing key", via(bucketCmd, "create")),
			leaf("list", "", "buckets with their paths, size, access and keys", via(bucketCmd, "list")),
			leaf("delete", "BUCKET [--force]", "delete a bucket (--force: with its objects and uploads)", via(bucketCmd, "delete")),
			leaf("resign", "BUCKET [--progress N]", "add the current keys' signatures to every stored narinfo", via(bucketCmd, "resign")),
			leaf("set", "BUCKET SETTING=VALUE...", "priority=N want-mass-query=0|1 (nix-cache-info); keep-days=N max-size=SIZE gc=on|off gc-grace=DURATION (retention); abort-uploads-days=N; upstreams='URL …' upstream-keys='NAME:KEY …' upstream-trust=keys|any upstream-negative-ttl=1h upstream-max-conns=16 upstream-timeout=3s (pull-through)", via(bucketCmd, "set")),
			leaf("info", "BUCKET", "paths, NAR and file bytes, settings, keys", via(bucketCmd, "info")),
			group("policy", "the bucket policy", dataNote,
				leaf("set", "BUCKET FILE|anonymous-read", `set the bucket policy ("-" reads stdin; anonymous-read: public reads)`, via(bucketCmd, "policy", "set")),
				leaf("get", "BUCKET", "print the bucket policy", via(bucketCmd, "policy", "get")),
				leaf("delete", "BUCKET", "remove the bucket policy (private again)", via(bucketCmd, "policy", "delete"))),
			group("cors", "the bucket's CORS configuration: which web pages on other origins may read it", dataNote,
				leaf("set", "BUCKET FILE|public", `set it: S3's XML or the aws CLI's JSON ("-" reads stdin; public: any page may read what anyone may)`, via(bucketCmd, "cors", "set")),
				leaf("get", "BUCKET", "print it (the aws CLI's JSON)", via(bucketCmd, "cors", "get")),
				leaf("delete", "BUCKET", "remove it", via(bucketCmd, "cors", "delete"))),
			group("key", "the bucket's narinfo signing keys", dataNote,
				leaf("generate", "BUCKET [NAME]", "add a fresh narinfo signing key", via(bucketCmd, "key", "generate")),
				leaf("add", "BUCKET FILE", "add a key from nix-store --generate-binary-cache-key", via(bucketCmd, "key", "add")),
				leaf("remove", "BUCKET NAME", "remove a signing key", via(bucketCmd, "key", "remove"))),
			leaf("public-key", "BUCKET", "the keys in trusted-public-keys form", via(bucketCmd, "public-key"))),
		group("pin", "pins: store paths kept whatever the retention settings say", pinNote,
			leaf("add", "BUCKET NAME STOREPATH [--keep N]", "pin a pushed store path (moves an existing pin)", via(pinCmd, "add")),
			leaf("list", "BUCKET", "list the bucket's pins and the paths they keep", via(pinCmd, "list")),
			leaf("remove", "BUCKET NAME", "remove a pin", via(pinCmd, "remove"))),
		leaf("gc", "BUCKET [--dry-run]", "remove what the bucket's retention settings let go, keeping closures whole", gcCmd),
		leaf("verify", "BUCKET [--deep] [--repair] [--jobs N]", "check a bucket's narinfos, NARs and blobs; --repair fixes", verifyCmd),
		group("path", "store paths in a bucket", dataNote,
			leaf("delete", "BUCKET STOREPATH... [--with-referrers] [--closure] [--dry-run]", "delete paths without breaking a closure", pathDeleteCmd)),
		leaf("migrate", "--from-data DIR --to-meta postgres://… [--to-blobs s3://…]", "copy a data directory to PostgreSQL and an S3 store; resumable, verified", migrateCmd),
		leaf("info", "[--data DIR]", "print the first start's banner again: endpoint, buckets, keys, commands", infoCmd),
		leaf("use", "URL [--write]", "print (or write) the nix.conf and netrc lines to use a cache", useCmd),
		leaf("push", "--to URL [flags] PATH...|--stdin", "push closures to a binary cache (s3://, http(s)://, file://)", pushCmd),
		leaf("proxy", "--upstream URL [--listen ADDR] [--cache-dir DIR --max-size SIZE]", "serve upstream caches (a private S3 cache) as a local plain-HTTP binary cache", proxyCmd),
		leaf("version", "", "print the version, VCS revision and Go version", versionCmd),
		&command{name: "completion", args: "bash|zsh|fish", summary: "print a shell completion script", run: completionCmd, words: shells},
		leaf("help", "[COMMAND...]", "show the usage of a command", helpCmd),
	)
}

// errHelp is returned once help was printed as asked: exit status 0.
var errHelp = errors.New("help printed")

// errUsagePrinted is returned when a group's usage was printed because
// its command was missing: exit status 2, with nothing more to say.
var errUsagePrinted = errors.New("usage printed")

// usageError is a mistake on the command line: exit status 2, with a hint
// to read the command's help.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// running is the leaf being run, for the summary its help prints.
var running *command

// runCLI runs the command line args (without the program name) and
// returns the exit status.
func runCLI(args []string) int {
	args, err := hoistFlags(args)
	var path []string
	if err == nil {
		path, err = dispatch(root, nil, args)
	}
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelp), errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsagePrinted):
		return 2
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "nixbucket: %s\nrun 'nixbucket %s'\n", ue.msg, strings.TrimSpace(strings.Join(path, " ")+" --help"))
		return 2
	default:
		fmt.Fprintln(os.Stderr, "nixbucket:", err)
		return 1
	}
}

// dispatch finds the command args name under c and runs it. It returns
// the path of the command it reached, for the hint after a usage error.
func dispatch(c *command, path, args []string) ([]string, error) {
	if c.run != nil {
		if wantsHelp(args) {
			return path, leafHelp(c)
		}
		running = c
		return path, c.run(args)
	}
	if c == root && len(args) > 0 && args[0] == "--version" {
		return path, versionCmd(nil)
	}
	if len(args) == 0 {
		c.printUsage(os.Stderr, path)
		return path, errUsagePrinted
	}
	if isHelpFlag(args[0]) {
		c.printUsage(os.Stdout, path)
		return path, errHelp
	}
	sub, err := c.find(path, args[0])
	if err != nil {
		return path, err
	}
	return dispatch(sub, append(path, sub.name), args[1:])
}

// hoistFlags moves the --data DIR and --meta URL a user put before the
// command (nixbucket --data DIR user list, as many tools take their global
// options) to right after the command's words, where its flags go.
func hoistFlags(args []string) ([]string, error) {
	var lead []string
	i := 0
	for i < len(args) {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !strings.HasPrefix(args[i], "-") || name != "data" && name != "meta" {
			break
		}
		if hasValue {
			lead, i = append(lead, args[i]), i+1
			continue
		}
		if i+1 == len(args) {
			return nil, usagef("flag needs an argument: %s", args[i])
		}
		lead, i = append(lead, args[i], args[i+1]), i+2
	}
	if len(lead) == 0 {
		return args, nil
	}
	rest := args[i:]
	c, n := root, 0
	for ; n < len(rest) && c.run == nil; n++ {
		sub := c.sub(rest[n])
		if sub == nil {
			break
		}
		c = sub
	}
	if n == 0 { // no command (--help, a mistyped one): it speaks first
		return append(append([]string(nil), rest...), lead...), nil
	}
	return append(append(append([]string(nil), rest[:n]...), lead...), rest[n:]...), nil
}

// sub returns c's subcommand name, or nil.
func (c *command) sub(name string) *command {
	for _, s := range c.subs {
		if s.name == name {
			return s
		}
	}
	return nil
}

// find returns c's subcommand name, or a usage error that suggests the
// nearest name.
func (c *command) find(path []string, name string) (*command, error) {
	if strings.HasPrefix(name, "-") {
		return nil, usagef("%s: flags go after the command: %s [flags] [args]", name, strings.Join(append(append([]string{"nixbucket"}, path...), "COMMAND"), " "))
	}
	names := make([]string, len(c.subs))
	for i, s := range c.subs {
		if s.name == name {
			return s, nil
		}
		names[i] = s.name
	}
	full := strings.Join(append(append([]string(nil), path...), name), " ")
	if near := nearest(name, names); near != "" {
		return nil, usagef("unknown command %q; did you mean %q?", full, strings.Join(append(append([]string(nil), path...), near), " "))
	}
	return nil, usagef("unknown command %q", full)
}

func isHelpFlag(s string) bool { return s == "-h" || s == "-help" || s == "--help" }

// wantsHelp says whether a leaf's arguments ask for its help.
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if isHelpFlag(a) {
			return true
		}
	}
	return false
}

// leafHelp prints a leaf's help on standard output. A command that parses
// its flags without parse (and so prints its usage to the flag package's
// default, standard error) still writes to standard output here.
func leafHelp(c *command) error {
	running = c
	stderr := os.Stderr
	os.Stderr = os.Stdout
	defer func() { os.Stderr = stderr }()
	err := c.run([]string{"-h"})
	if err == nil || errors.Is(err, errHelp) || errors.Is(err, flag.ErrHelp) {
		return errHelp
	}
	return err
}

// printUsage prints a group's usage: its commands, with nested groups
// listed down to their leaves.
func (c *command) printUsage(w io.Writer, path []string) {
	prefix := strings.TrimSpace("nixbucket " + strings.Join(path, " "))
	if c == root {
		fmt.Fprintf(w, "nixbucket — %s\n\nusage: nixbucket COMMAND [flags] [args]\n\nCommands:\n", c.summary)
	} else {
		fmt.Fprintf(w, "usage: %s COMMAND [flags] [args]\n\n%s\n\nCommands:\n", prefix, c.summary)
	}
	var rows [][2]string
	var walk func(c *command, at string)
	walk = func(c *command, at string) {
		for _, s := range c.subs {
			name := strings.TrimSpace(at + " " + s.name)
			if s.run != nil {
				rows = append(rows, [2]string{strings.TrimSpace(name + " " + s.args), s.summary})
				continue
			}
			if c == root { // the top level lists groups on one line each
				rows = append(rows, [2]string{name + " " + subNames(s), s.summary})
				continue
			}
			walk(s, name)
		}
	}
	walk(c, "")
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	width = min(width, 44)
	for _, r := range rows {
		if len(r[0]) > width {
			fmt.Fprintf(w, "  %s\n  %*s  %s\n", r[0], width, "", r[1])
		} else {
			fmt.Fprintf(w, "  %-*s  %s\n", width, r[0], r[1])
		}
	}
	if c.note != "" {
		fmt.Fprintf(w, "\n%s\n", c.note)
	}
	fmt.Fprintf(w, "\nRun 'nixbucket help %s' (or '%s COMMAND --help') for a command's flags.\n", strings.TrimSpace(strings.Join(path, " ")+" COMMAND"), prefix)
}

// subNames is a group's commands as "create|list|…".
func subNames(c *command) string {
	var names []string
	for _, s := range c.subs {
		names = append(names, s.name)
	}
	return strings.Join(names, "|")
}

// helpCmd prints the usage of the command its arguments name.
func helpCmd(args []string) error {
	args, err := parse(flag.NewFlagSet("help", flag.ContinueOnError), args, 0, 100, "help [COMMAND...]")
	if err != nil {
		return err
	}
	c, path := root, []string(nil)
	for _, a := range args {
		if c.run != nil {
			break
		}
		sub, err := c.find(path, a)
		if err != nil {
			return err
		}
		c, path = sub, append(path, sub.name)
	}
	if c.run != nil {
		return leafHelp(c)
	}
	c.printUsage(os.Stdout, path)
	return nil
}

// parseFlags parses args into fs. Asked for help (-h, --help), it prints
// the usage on standard output and returns errHelp; a bad flag is a
// usageError of one line, suggesting the nearest flag's name. The usage
// printed is fs.Usage (parse sets it to leafUsage). In describing mode it
// hands fs over instead of parsing.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if describing != nil {
		describing(fs)
		return errHelp
	}
	usage, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = usage
	fs.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(os.Stdout)
		fs.Usage()
		fs.SetOutput(out)
		return errHelp
	case err != nil:
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
			var names []string
			fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
			if near := nearest(name, names); near != "" {
				msg += fmt.Sprintf("; did you mean --%s?", near)
			}
		}
		return &usageError{fs.Name() + ": " + msg}
	}
	return nil
}

// leafUsage is the usage parse prints: the synopsis, the summary from the
// table and the flags.
func leafUsage(fs *flag.FlagSet, synopsis string) func() {
	return func() {
		w := fs.Output()
		first, rest, _ := strings.Cut(synopsis, "\n")
		fmt.Fprintf(w, "usage: nixbucket %s\n", first)
		// Indented lines right after the first continue the synopsis
		// (proxy's is two lines): they go before the summary, not after.
		for rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			var line string
			line, rest, _ = strings.Cut(rest, "\n")
			fmt.Fprintf(w, "%s\n", line)
		}
		if running != nil && running.summary != "" {
			fmt.Fprintf(w, "\n%s\n", running.summary)
		}
		if rest != "" {
			fmt.Fprintf(w, "%s\n", rest)
		}
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintf(w, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
}

// describing, when set, receives the flag set of the command being run
// instead of having it parse: the completion scripts learn each command's
// flags this way.
var describing func(*flag.FlagSet)

// nearest returns the candidate closest to s by edit distance, or "" when
// none is close enough to be what was meant.
func nearest(s string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		d := suggest.Distance(s, c)
		if strings.HasPrefix(c, s) && len(s) >= 2 {
			d = min(d, 1)
		}
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > max(1, min(3, len(s)/3+1)) {
		return ""
	}
	return best
}
