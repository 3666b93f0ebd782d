package main

import (
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
)

// paths are the command paths of the table, groups and leaves.
func paths() [][]string {
	var all [][]string
	var walk func(c *command, path []string)
	walk = func(c *command, path []string) {
		for _, s := range c.subs {
			p := append(append([]string(nil), path...), s.name)
			all = append(all, p)
			walk(s, p)
		}
	}
	walk(root, nil)
	return all
}

// TestHelpEveryCommand asks every command and subcommand for its help in
// the three ways a user does: all exit 0 with the usage on standard
// output, and none says "flag: help requested".
func TestHelpEveryCommand(t *testing.T) {
	for _, p := range paths() {
		name := strings.Join(p, " ")
		for _, args := range [][]string{
			append(append([]string(nil), p...), "--help"),
			append(append([]string(nil), p...), "-h"),
			append([]string{"help"}, p...),
		} {
			r := run(t, nil, args...)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "usage: nixbucket "+name) || strings.Contains(r.stdout+r.stderr, "help requested") {
				t.Errorf("nixbucket %s: exit %d, stdout %q, stderr %q; want exit 0 and usage: nixbucket %s… on stdout", strings.Join(args, " "), r.code, r.stdout, r.stderr, name)
			}
		}
	}
}

// TestHelpSynopsisWhole: a leaf's help prints its whole synopsis, then its
// summary as a paragraph of its own. Proxy's synopsis runs over two lines,
// and its second line was once printed after the summary.
func TestHelpSynopsisWhole(t *testing.T) {
	var walk func(c *command, path []string)
	walk = func(c *command, path []string) {
		for _, s := range c.subs {
			p := append(append([]string(nil), path...), s.name)
			if s.run != nil && s.summary != "" {
				r := run(t, nil, append([]string{"help"}, p...)...)
				if !strings.Contains(r.stdout, "\n\n"+s.summary+"\n\n") && !strings.HasSuffix(r.stdout, "\n\n"+s.summary+"\n") &&
					!strings.HasPrefix(r.stdout, "usage: nixbucket push") { // push prints its own usage
					t.Errorf("nixbucket help %s: the summary %q is not a paragraph of its own:\n%s", strings.Join(p, " "), s.summary, r.stdout)
				}
			}
			walk(s, p)
		}
	}
	walk(root, nil)
	r := run(t, nil, "help", "proxy")
	if want := "usage: nixbucket proxy --upstream URL [--upstream URL2 ...] [--listen 127.0.0.1:8080]\n       [--cache-dir DIR"; !strings.HasPrefix(r.stdout, want) {
		t.Errorf("nixbucket help proxy begins\n%s\nwant it to begin\n%s", r.stdout, want)
	}
}

// TestTopLevelHelp: the top-level help lists every command, on standard
// output, for each way of asking.
func TestTopLevelHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		r := run(t, nil, args...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("nixbucket %s: exit %d, stderr %q", args[0], r.code, r.stderr)
		}
		for _, c := range root.subs {
			if !strings.Contains(r.stdout, "\n  "+c.name+" ") {
				t.Errorf("nixbucket %s does not list %s:\n%s", args[0], c.name, r.stdout)
			}
		}
		golden(t, "help", r.stdout)
	}
	// Without a command the same usage goes to standard error, exit 2.
	if r := run(t, nil); r.code != 2 || !strings.Contains(r.stderr, "Commands:") || r.stdout != "" {
		t.Errorf("nixbucket: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestGroupWithoutCommand: a group run alone prints its usage, listing its
// commands, and exits 2.
func TestGroupWithoutCommand(t *testing.T) {
	r := run(t, nil, "user")
	if r.code != 2 || !strings.HasPrefix(r.stderr, "usage: nixbucket user COMMAND") || !strings.Contains(r.stderr, "key create NAME") {
		t.Errorf("nixbucket user: exit %d, stderr %q", r.code, r.stderr)
	}
	golden(t, "user", r.stderr)
}

// TestMistypedCommand: unknown commands and subcommands exit 2 and name
// the nearest one, with the help to read.
func TestMistypedCommand(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serv"}, "nixbucket: unknown command \"serv\"; did you mean \"serve\"?\nrun 'nixbucket --help'\n"},
		{[]string{"pusj", "--to", "x"}, "nixbucket: unknown command \"pusj\"; did you mean \"push\"?\nrun 'nixbucket --help'\n"},
		{[]string{"user", "creat", "bob"}, "nixbucket: unknown command \"user creat\"; did you mean \"user create\"?\nrun 'nixbucket user --help'\n"},
		{[]string{"bucket", "key", "gen"}, "nixbucket: unknown command \"bucket key gen\"; did you mean \"bucket key generate\"?\nrun 'nixbucket bucket key --help'\n"},
		{[]string{"help", "tokn"}, "nixbucket: unknown command \"tokn\"; did you mean \"token\"?\nrun 'nixbucket help --help'\n"},
		{[]string{"frobnicate"}, "nixbucket: unknown command \"frobnicate\"\nrun 'nixbucket --help'\n"},
	} {
		r := run(t, nil, c.args...)
		if r.code != 2 || r.stderr != c.want || r.stdout != "" {
			t.Errorf("nixbucket %s: exit %d, stderr %q; want exit 2, %q", strings.Join(c.args, " "), r.code, r.stderr, c.want)
		}
	}
}

// TestUsageErrors: a bad flag or a missing argument is one line and a
// hint, exit 2, not the whole usage.
func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--lisen", ":0"}, "nixbucket: serve: flag provided but not defined: -lisen; did you mean --listen?\nrun 'nixbucket serve --help'\n"},
		{[]string{"user", "create", "--polcy", "f", "bob"}, "nixbucket: user create: flag provided but not defined: -polcy; did you mean --policy?\nrun 'nixbucket user create --help'\n"},
		{[]string{"user", "create"}, "nixbucket: usage: nixbucket user create NAME [--policy FILE]\nrun 'nixbucket user create --help'\n"},
		{[]string{"token", "revoke", "a", "b"}, "nixbucket: usage: nixbucket token revoke TOKEN_ID\nrun 'nixbucket token revoke --help'\n"},
		{[]string{"serve", "--max-conns", "many"}, "nixbucket: serve: invalid value \"many\" for flag -max-conns: parse error\nrun 'nixbucket serve --help'\n"},
		{[]string{"serve", "--blob-cache-size", "auto"}, "nixbucket: serve: --blob-cache-size \"auto\": want a size such as 10GiB or 500MB, or 0\nrun 'nixbucket serve --help'\n"},
		{[]string{"serve", "--blob-cache-size", "5%"}, "nixbucket: serve: --blob-cache-size \"5%\": want a size such as 10GiB or 500MB, or 0\nrun 'nixbucket serve --help'\n"},
		{[]string{"push", "./result"}, "nixbucket: push: --to URL is required: nixbucket push --to URL [flags] PATH...\nrun 'nixbucket push --help'\n"},
		{[]string{"push", "--to", "http://127.0.0.1:9/c"}, "nixbucket: push: no paths given (or use --stdin): nixbucket push --to URL [flags] PATH...\nrun 'nixbucket push --help'\n"},
		{[]string{"completion", "bsh"}, "nixbucket: completion: unknown shell \"bsh\"; did you mean \"bash\"?\nrun 'nixbucket completion --help'\n"},
	} {
		r := run(t, nil, c.args...)
		if r.code != 2 || r.stderr != c.want {
			t.Errorf("nixbucket %s: exit %d, stderr %q; want exit 2, %q", strings.Join(c.args, " "), r.code, r.stderr, c.want)
		}
	}
}

// TestFlagsBeforeCommand: --data and --meta before the command, as many
// tools take their global options, reach the command; other flags there
// are one line saying where flags go, not "unknown command".
func TestFlagsBeforeCommand(t *testing.T) {
	data := newData(t)
	if r := run(t, nil, "bucket", "list", "--data", data); r.code != 0 {
		t.Fatalf("bucket list --data: exit %d\n%s", r.code, r.stderr)
	}
	want := run(t, nil, "bucket", "list", "--data", data).stdout
	for _, args := range [][]string{
		{"--data", data, "bucket", "list"},
		{"--data=" + data, "bucket", "list"},
		{"-data", data, "bucket", "list"},
	} {
		if r := run(t, nil, args...); r.code != 0 || r.stdout != want {
			t.Errorf("nixbucket %s: exit %d, stdout %q, stderr %q; want exit 0 and %q", strings.Join(args, " "), r.code, r.stdout, r.stderr, want)
		}
	}
	if r := run(t, nil, "--data", data, "--help"); r.code != 0 || !strings.HasPrefix(r.stdout, "nixbucket — ") {
		t.Errorf("nixbucket --data DIR --help: exit %d, stdout %q, stderr %q; want the usage", r.code, r.stdout, r.stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", ":0", "serve"}, "nixbucket: --listen: flags go after the command: nixbucket COMMAND [flags] [args]\nrun 'nixbucket --help'\n"},
		{[]string{"user", "--data", data, "list"}, "nixbucket: --data: flags go after the command: nixbucket user COMMAND [flags] [args]\nrun 'nixbucket user --help'\n"},
		{[]string{"--data"}, "nixbucket: flag needs an argument: --data\nrun 'nixbucket --help'\n"},
		{[]string{"--data", data, "frob"}, "nixbucket: unknown command \"frob\"\nrun 'nixbucket --help'\n"},
	} {
		if r := run(t, nil, c.args...); r.code != 2 || r.stderr != c.want {
			t.Errorf("nixbucket %s: exit %d, stderr %q; want exit 2, %q", strings.Join(c.args, " "), r.code, r.stderr, c.want)
		}
	}
}

func TestNearest(t *testing.T) {
	cands := []string{"serve", "user", "token", "bucket", "push", "version", "completion", "help"}
	for in, want := range map[string]string{
		"serv": "serve", "sevre": "serve", "users": "user", "bukcet": "bucket", "ver": "version",
		"comp": "completion", "xyzzy": "", "p": "", "": "",
	} {
		if got := nearest(in, cands); got != want {
			t.Errorf("nearest(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHelpOfRawFlagSet: a command that parses its flags itself, with the
// flag package's defaults rather than parse, still prints its help on
// standard output and exits 0 without "flag: help requested".
func TestHelpOfRawFlagSet(t *testing.T) {
	raw := leaf("raw", "", "a command parsing by itself", func(args []string) error {
		fs := flag.NewFlagSet("raw", flag.ContinueOnError)
		fs.String("thing", "", "a thing")
		return fs.Parse(args)
	})
	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = out
	_, err = dispatch(raw, []string{"raw"}, []string{"--help"})
	os.Stdout = stdout
	b, _ := os.ReadFile(out.Name())
	if !errors.Is(err, errHelp) || !strings.Contains(string(b), "-thing string") {
		t.Errorf("raw --help: %v, stdout %q", err, b)
	}
}
