package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// configNote is the part of serve's help about where its settings come from.
const configNote = `
Every flag can also be set in the environment as NIXBUCKET_ and the flag's
name in capitals with _ for - (NIXBUCKET_LISTEN, NIXBUCKET_MIN_FREE), or as
a key of the TOML file --config (or NIXBUCKET_CONFIG) names: listen =
"0.0.0.0:9000" (see nixbucket.toml.example). Flags win over the
environment, which wins over the file.`

// parseConfigured parses a command's flags, then fills each flag the
// command line left unset from the environment (NIXBUCKET_FLAG_NAME) and
// then from the TOML file named by the flag "config", if the flag set has
// one: flags > environment > file > defaults, for every flag of fs.
func parseConfigured(fs *flag.FlagSet, args []string, synopsis string) error {
	if _, err := parse(fs, args, 0, 0, synopsis); err != nil {
		return err
	}
	return applyEnvAndFile(fs, os.LookupEnv)
}

// envName is the environment variable that sets flag name.
func envName(name string) string {
	return "NIXBUCKET_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// applyEnvAndFile is parseConfigured after the parse; lookup reads the
// environment.
func applyEnvAndFile(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v, ok := lookup(envName(f.Name)); ok && v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", envName(f.Name), v, e)
			}
			set[f.Name] = true
		}
	})
	if err != nil {
		return err
	}
	if cfg := fs.Lookup("config"); cfg != nil && cfg.Value.String() != "" {
		return applyFile(fs, cfg.Value.String(), set)
	}
	return nil
}

// applyFile sets from a TOML file the flags not in set. Its keys are the
// flags' names; a key no flag has is an error naming the nearest one.
func applyFile(fs *flag.FlagSet, file string, set map[string]bool) error {
	var kv map[string]any
	if _, err := toml.DecodeFile(file, &kv); err != nil {
		return fmt.Errorf("config %s: %w", file, err)
	}
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "config" {
			names = append(names, f.Name)
		}
	})
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(names, k) {
			if near := nearest(k, names); near != "" {
				return fmt.Errorf("config %s: unknown key %q; did you mean %q?", file, k, near)
			}
			return fmt.Errorf("config %s: unknown key %q (the keys are the flags of nixbucket serve -h)", file, k)
		}
		if set[k] {
			continue
		}
		v, err := tomlString(kv[k])
		if err != nil {
			return fmt.Errorf("config %s: %s: %w", file, k, err)
		}
		if err := fs.Set(k, v); err != nil {
			return fmt.Errorf("config %s: %s = %s: %w", file, k, v, err)
		}
	}
	return nil
}

// tomlString is a TOML value as a flag's text.
func tomlString(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	}
	return "", fmt.Errorf("want a string, number or boolean, not %T", v)
}

// exampleValues are the values nixbucket.toml.example shows for flags
// whose default depends on the machine.
var exampleValues = map[string]string{"max-conns": "4096"}

// writeConfigExample writes a commented TOML file with every flag of fs
// (but config) as a key, its help and its default.
func writeConfigExample(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `# nixbucket.toml.example: the settings of nixbucket serve, for
#   nixbucket serve --config nixbucket.toml
# Each key is a flag of nixbucket serve (nixbucket serve --help); the values
# shown are the defaults. Flags on the command line win over the environment
# (NIXBUCKET_LISTEN, …), which wins over this file.
# Generated from the flags by TestConfigExample (go test ./cmd/nixbucket -update).
`)
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" {
			return
		}
		fmt.Fprintln(w)
		for _, line := range wrap(f.Usage, 74) {
			fmt.Fprintf(w, "# %s\n", line)
		}
		fmt.Fprintf(w, "# (flag --%s, environment %s)\n", f.Name, envName(f.Name))
		v, ok := exampleValues[f.Name]
		if ok {
			fmt.Fprintf(w, "# (an example value: the default depends on the machine)\n")
		} else {
			v = f.DefValue
		}
		fmt.Fprintf(w, "#%s = %s\n", f.Name, tomlLiteral(f, v))
	})
}

// tomlLiteral writes v, a text value of flag f, as TOML: booleans and
// numbers bare, everything else quoted.
func tomlLiteral(f *flag.Flag, v string) string {
	if g, ok := f.Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case bool, int, int64, uint, uint64, float64:
			return v
		}
	}
	return strconv.Quote(v)
}

// wrap splits s into lines of at most width bytes at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}
