package target

import (
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/nixconf"
)

// FuzzNetrc: push reads a netrc file with parseNetrc, while `use` and the
// pull-through upstreams read the same file with nixconf.NetrcLookup.
// Whatever the file holds, parseNetrc must not panic, and for a file it
// accepts both must find the same credentials for every host it names,
// as curl (Nix) does: push and substitution log in alike. (A file where
// an entry keyword stands for a value, "machine default", is malformed:
// nixconf keeps such an entry out of its edits, and is not compared.)
func FuzzNetrc(f *testing.F) {
	for _, s := range []string{
		"machine h login u password p\n",
		"machine h login a password 1\nmachine h login b password 2",
		"machine x login a password 1\ndefault login d password dp\n",
		"# comment\nmachine h login u account z password p",
		"machine h login u password p\n# machine h2 login x password y\n",
		"macdef init\ncd /\nput x\n\nmachine h login u password p",
		"macdef init\ncd /\n \t\nmachine h login u password p",
		"machine h\n  # note: login z\n  login u password p",
		"machine h\r\nlogin u\r\npassword p\r\n",
		"default login d password dp\nmachine h login u",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		machines, def, err := parseNetrc(text)
		if err != nil || keywordAsValue(text) {
			return
		}
		hosts := map[string]bool{"h": true, "unnamed.example": true}
		for h := range machines {
			hosts[h] = true
		}
		for _, tok := range strings.Fields(text) {
			hosts[tok] = true
		}
		for host := range hosts {
			wl, wp, wfound := "", "", false
			if e, ok := machines[host]; ok {
				wl, wp, wfound = e.login, e.password, true
			} else if def != nil {
				wl, wp, wfound = def.login, def.password, true
			}
			l, p, found := nixconf.NetrcLookup([]byte(text), host)
			if l != wl || p != wp || found != wfound {
				t.Fatalf("netrc %q, host %q: push finds %q %q %v; nixconf %q %q %v", text, host, wl, wp, wfound, l, p, found)
			}
		}
	})
}

// keywordAsValue reports whether an entry keyword (machine, default,
// macdef) stands where a value belongs.
func keywordAsValue(text string) bool {
	toks := netrcTokens(text)
	for i := 0; i+1 < len(toks); i++ {
		switch toks[i] {
		case "machine", "login", "password", "account":
			switch toks[i+1] {
			case "machine", "default", "macdef":
				return true
			}
			i++
		}
	}
	return false
}
