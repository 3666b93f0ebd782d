// Package nixconf reads and edits the files a Nix client is configured
// by: nix.conf (substituters, trusted-public-keys, netrc-file) and the
// netrc file that holds credentials for binary caches. Edits keep every
// line already there, add only what is missing, and are written
// atomically, for `nixbucket use`.
package nixconf

import (
	"fmt"
	"strings"

	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

// Conf is the text of a nix.conf, line by line.
type Conf struct {
	lines []string
}

// Parse reads a nix.conf's text. It never fails: lines it does not
// understand are kept as they are.
func Parse(text []byte) *Conf {
	s := strings.TrimSuffix(string(text), "\n")
	if s == "" {
		return &Conf{}
	}
	return &Conf{lines: strings.Split(s, "\n")}
}

// Bytes is the text, ending with a newline.
func (c *Conf) Bytes() []byte {
	if len(c.lines) == 0 {
		return nil
	}
	return []byte(strings.Join(c.lines, "\n") + "\n")
}

// setting splits a line into a setting's name and value words; ok is
// false for blank lines, comments and includes.
func setting(line string) (name string, words []string, ok bool) {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	name, value, ok := strings.Cut(line, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return "", nil, false
	}
	return name, strings.Fields(value), true
}

// List is the value of a list setting as Nix sees it after reading the
// file: the last `name = …` line sets it, and each `extra-name = …` line
// (before or after) adds to it. Included files are not read.
func (c *Conf) List(name string) []string {
	var set, extra []string
	for _, l := range c.lines {
		n, words, ok := setting(l)
		switch {
		case !ok:
		case n == name:
			set = words
		case n == "extra-"+name:
			extra = append(extra, words...)
		}
	}
	return append(set, extra...)
}

// Value is the value of a scalar setting: its last line's, or "".
func (c *Conf) Value(name string) string {
	v := ""
	for _, l := range c.lines {
		if n, words, ok := setting(l); ok && n == name {
			v = strings.Join(words, " ")
		}
	}
	return v
}

// Add appends `name = words…` as a line of its own.
func (c *Conf) Add(name string, words ...string) {
	c.lines = append(c.lines, name+" = "+strings.Join(words, " "))
}

// AddCache makes sure Nix uses the binary cache at url and trusts keys:
// it appends extra-substituters and extra-trusted-public-keys lines for
// those missing from the substituters and trusted-public-keys settings,
// and keeps every other line. It returns the lines it added; none when
// everything was there (running it twice adds nothing).
func (c *Conf) AddCache(url string, keys []string) (added []string) {
	n := len(c.lines)
	if !containsURL(c.List("substituters"), url) {
		c.Add("extra-substituters", url)
	}
	have := c.List("trusted-public-keys")
	var missing []string
	for _, k := range keys {
		if !contains(have, k) && !contains(missing, k) {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		c.Add("extra-trusted-public-keys", missing...)
	}
	return c.lines[n:]
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// containsURL reports whether list holds url, a trailing slash aside.
func containsURL(list []string, url string) bool {
	url = strings.TrimRight(url, "/")
	for _, v := range list {
		if strings.TrimRight(v, "/") == url {
			return true
		}
	}
	return false
}

// PublicKeys reads a list of public keys (NAME:BASE64, separated by white
// space), such as a server's answer to GET /-/keys/BUCKET, for
// trusted-public-keys. Nix refuses to substitute at all while that
// setting holds an entry it cannot parse, so anything else fails here: an
// HTML page a proxy answered with, a truncated key, or a name with '#',
// which would start a comment in nix.conf and cut the key.
func PublicKeys(text string) ([]string, error) {
	keys := strings.Fields(text)
	for _, k := range keys {
		if strings.Contains(k, "#") {
			return nil, fmt.Errorf("public key %.60q: a '#' would start a comment in nix.conf", k)
		}
		if _, err := signature.ParsePublicKey(k); err != nil {
			return nil, err
		}
	}
	return keys, nil
}
