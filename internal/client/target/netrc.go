package target

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// netrcEntry is one machine's credentials.
type netrcEntry struct{ login, password string }

// parseNetrc reads a netrc file (the format of curl and Nix's netrc-file):
// "machine HOST login NAME password SECRET" entries, a "default" entry,
// "account" ignored and "macdef" bodies skipped. Tokens may be spread over
// lines and separated by any white space.
func parseNetrc(data string) (map[string]netrcEntry, *netrcEntry, error) {
	machines := map[string]netrcEntry{}
	var def, cur *netrcEntry
	var curHost string
	flush := func() {
		if cur == nil {
			return
		}
		if curHost == "" {
			if def == nil { // the first default wins, as in curl
				def = cur
			}
		} else if _, seen := machines[curHost]; !seen { // the first entry wins, as in curl
			machines[curHost] = *cur
		}
		cur = nil
	}
	toks := netrcTokens(data)
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		value := func() (string, error) {
			if i+1 >= len(toks) {
				return "", fmt.Errorf("netrc: %q at the end of the file needs a value", tok)
			}
			i++
			return toks[i], nil
		}
		switch tok {
		case "machine":
			flush()
			host, err := value()
			if err != nil {
				return nil, nil, err
			}
			cur, curHost = &netrcEntry{}, host
		case "default":
			flush()
			cur, curHost = &netrcEntry{}, ""
		case "macdef":
			flush()
		case "login", "password", "account":
			v, err := value()
			if err != nil {
				return nil, nil, err
			}
			if cur == nil {
				return nil, nil, fmt.Errorf("netrc: %s outside a machine entry", tok)
			}
			switch tok {
			case "login":
				cur.login = v
			case "password":
				cur.password = v
			}
		default:
			return nil, nil, fmt.Errorf("netrc: unexpected %q (an entry is: machine HOST login NAME password SECRET)", tok)
		}
	}
	flush()
	return machines, def, nil
}

// netrcTokens splits a netrc file into its tokens, separated by ASCII
// white space as curl separates them,
// without comment lines (first token starting with #) and macro
// definitions: "macdef" stays a token, while its name and body (the lines
// up to the next blank one) are dropped.
func netrcTokens(data string) []string {
	var toks []string
	inMacro := false
	for line := range strings.Lines(data) {
		fields := strings.FieldsFunc(line, asciiSpace)
		if inMacro {
			inMacro = len(fields) > 0
			continue
		}
		if len(fields) > 0 && strings.HasPrefix(fields[0], "#") {
			continue
		}
		for _, f := range fields {
			toks = append(toks, f)
			if f == "macdef" {
				inMacro = true
				break
			}
		}
	}
	return toks
}

// netrcLookup returns the credentials for host from the netrc file path
// ("" for $NETRC, then ~/.netrc). A missing default file is no error.
func netrcLookup(path, host string) (login, password string, found bool, err error) {
	explicit := path != ""
	if path = netrcPath(path); path == "" {
		return "", "", false, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("netrc file: %w", err)
	}
	machines, def, err := parseNetrc(string(data))
	if err != nil {
		return "", "", false, fmt.Errorf("%s: %w", path, err)
	}
	if e, ok := machines[host]; ok {
		return e.login, e.password, true, nil
	}
	if def != nil {
		return def.login, def.password, true, nil
	}
	return "", "", false, nil
}

// asciiSpace reports whether r separates netrc tokens: ASCII white space,
// as curl reads the file (a no-break space is part of a password).
func asciiSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r'
}

// netrcPath is the netrc file push reads: path, else $NETRC, else
// ~/.netrc ("" without a home directory).
func netrcPath(path string) string {
	if path == "" {
		path = os.Getenv("NETRC")
	}
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		path = filepath.Join(home, ".netrc")
	}
	return path
}

// NetrcMiss is netrcMiss for other readers of a netrc file (nixbucket
// use).
func NetrcMiss(path, host string) string { return netrcMiss(path, host) }

// netrcMiss says, for a message, which machines the netrc file names when
// none is host: a line for HOST:PORT, for a URL or for another name of
// the host is the usual mistake. It is "" when the file names none.
func netrcMiss(path, host string) string {
	path = netrcPath(path)
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	machines, _, err := parseNetrc(string(data))
	if err != nil || len(machines) == 0 {
		return ""
	}
	names := slices.Sorted(maps.Keys(machines))
	hint := ""
	for _, n := range names {
		if h, _, err := net.SplitHostPort(n); err == nil && h == host || strings.Contains(n, "/") {
			hint = ": a machine is a host name alone, without scheme, port or path"
		}
	}
	return fmt.Sprintf(" (it has lines for %s only%s)", Printable(strings.Join(names, ", ")), hint)
}
