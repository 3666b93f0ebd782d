package nixconf

import (
	"strings"
)

// netrcEntry is one `machine` (or `default`) entry of a netrc file: its
// tokens and where its text starts and ends.
type netrcEntry struct {
	start, end int
	machine    string
	isDefault  bool // the default entry, for any machine
	login      string
	password   string
}

// netrcEntries splits a netrc file into its entries, reading it as curl
// (and so Nix) does: tokens separated by ASCII white space, a line whose
// first token starts with '#' a comment, and a macro definition (macdef,
// the rest of its line and the lines up to a blank one) skipped. Text
// before the first entry belongs to no entry.
func netrcEntries(text string) []netrcEntry {
	var out []netrcEntry
	i := 0
	next := func() (tok string, at int) {
		for {
			for i < len(text) && asciiSpace(text[i]) {
				i++
			}
			at = i
			for i < len(text) && !asciiSpace(text[i]) {
				i++
			}
			if tok = text[at:i]; strings.HasPrefix(tok, "#") && firstOnLine(text, at) {
				i = lineEnd(text, i)
				continue
			}
			return tok, at
		}
	}
	// value reads the token after a keyword; an entry's keyword there
	// means the value is missing (a malformed file), and is not taken.
	value := func() string {
		save := i
		tok, _ := next()
		if tok == "machine" || tok == "default" || tok == "macdef" {
			i = save
			return ""
		}
		return tok
	}
	var cur *netrcEntry
	closeCur := func(at int) {
		if cur != nil {
			cur.end = at
			out = append(out, *cur)
			cur = nil
		}
	}
	for {
		tok, at := next()
		if tok == "" {
			closeCur(len(text))
			return out
		}
		switch tok {
		case "machine":
			closeCur(at)
			cur = &netrcEntry{start: at, machine: value()}
		case "default":
			closeCur(at)
			cur = &netrcEntry{start: at, isDefault: true}
		case "login", "password", "account":
			v := value()
			if cur != nil && tok == "login" {
				cur.login = v
			} else if cur != nil && tok == "password" {
				cur.password = v
			}
		case "macdef":
			closeCur(at)
			i = lineEnd(text, i)
			for i < len(text) {
				j := lineEnd(text, i)
				blank := strings.TrimLeft(text[i:j], " \t\n\v\f\r") == ""
				i = j
				if blank {
					break
				}
			}
		}
	}
}

// asciiSpace reports whether c separates netrc tokens.
func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// firstOnLine reports whether only white space precedes text[at] on its
// line.
func firstOnLine(text string, at int) bool {
	for j := at - 1; j >= 0 && text[j] != '\n'; j-- {
		if !asciiSpace(text[j]) {
			return false
		}
	}
	return true
}

// lineEnd returns the index just past the end of the line holding
// text[i] (past its newline), or len(text).
func lineEnd(text string, i int) int {
	if j := strings.IndexByte(text[i:], '\n'); j >= 0 {
		return i + j + 1
	}
	return len(text)
}

// NetrcLookup returns the credentials a netrc file holds for host (a
// host name, without port), as curl finds them: the first matching
// machine entry, else the default entry.
func NetrcLookup(text []byte, host string) (login, password string, ok bool) {
	var def *netrcEntry
	entries := netrcEntries(string(text))
	for i, e := range entries {
		if !e.isDefault && e.machine == host {
			return e.login, e.password, true
		}
		if e.isDefault && def == nil {
			def = &entries[i]
		}
	}
	if def != nil {
		return def.login, def.password, true
	}
	return "", "", false
}

// NetrcLine is the netrc line giving login and password for host.
func NetrcLine(host, login, password string) string {
	return "machine " + host + " login " + login + " password " + password
}

// NetrcSet returns text with the entry for host replaced by one line
// giving login and password, or that line appended when host has no
// entry. Every other entry and line is kept; changed is false when the
// entry was already exactly that.
func NetrcSet(text []byte, host, login, password string) (out []byte, changed bool) {
	s := string(text)
	line := NetrcLine(host, login, password)
	for _, e := range netrcEntries(s) {
		if e.isDefault || e.machine != host {
			continue
		}
		if e.login == login && e.password == password {
			return text, false
		}
		rest := s[e.end:]
		return []byte(s[:e.start] + line + "\n" + strings.TrimLeft(rest, " \t\n")), true
	}
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	if strings.Contains(s, "macdef") && !strings.HasSuffix(s, "\n\n") {
		s += "\n" // a macro's text runs to a blank line
	}
	return []byte(s + line + "\n"), true
}
