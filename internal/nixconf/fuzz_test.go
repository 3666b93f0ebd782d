package nixconf

import (
	"slices"
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

// FuzzNetrc: any netrc text parses, and setting a host's line gives a
// file in which that host has exactly those credentials and a second set
// changes nothing.
func FuzzNetrc(f *testing.F) {
	for _, s := range []string{
		"", "machine h login l password p\n", "default login a password b",
		"machine h\nlogin l\npassword p\n\nmacdef x\nmachine h login no\n\nmachine h2 login m",
		"macdef", "macdef m\ncmd", "machine", "login password machine h", "machine\ndefault login d password d\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		NetrcLookup([]byte(text), "h")
		out, _ := NetrcSet([]byte(text), "127.0.0.1", "KEY", "SECRET")
		if l, p, ok := NetrcLookup(out, "127.0.0.1"); !ok || l != "KEY" || p != "SECRET" {
			t.Fatalf("after NetrcSet on %q: lookup = %q %q %v in %q", text, l, p, ok, out)
		}
		if again, changed := NetrcSet(out, "127.0.0.1", "KEY", "SECRET"); changed {
			t.Fatalf("second NetrcSet changed %q to %q", out, again)
		}
	})
}

// FuzzConf: any nix.conf text parses, and AddCache is idempotent.
func FuzzConf(f *testing.F) {
	f.Add("substituters = a b\nextra-substituters = c # x\n")
	f.Add("trusted-public-keys =\n=\n# only\ninclude foo\n")
	f.Fuzz(func(t *testing.T, text string) {
		c := Parse([]byte(text))
		c.AddCache("http://h/b", []string{"k:1"})
		out := c.Bytes()
		c2 := Parse(out)
		if added := c2.AddCache("http://h/b", []string{"k:1"}); len(added) != 0 {
			t.Fatalf("second AddCache on %q added %q", out, added)
		}
	})
}

// FuzzPublicKeys: whatever a server answers for its keys, PublicKeys
// accepts only keys that parse, and each survives being written to any
// nix.conf: Nix reads it back among trusted-public-keys, whole.
func FuzzPublicKeys(f *testing.F) {
	const key = "cache-1:8Xm4FSsZ1Rz7xPnCqJb2S/yNhO4W1YXeqGY8bd0Ai7I="
	f.Add(key+"\n", "trusted-public-keys = cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=\n")
	f.Add("a#b:8Xm4FSsZ1Rz7xPnCqJb2S/yNhO4W1YXeqGY8bd0Ai7I=", "")
	f.Add("<html><body>Not here</body></html>", "# nothing\n")
	f.Add(key+" "+key+"\t\r\nother:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "extra-trusted-public-keys = "+key+"\n")
	f.Fuzz(func(t *testing.T, answer, conf string) {
		keys, err := PublicKeys(answer)
		if err != nil {
			return
		}
		for _, k := range keys {
			if _, err := signature.ParsePublicKey(k); err != nil {
				t.Fatalf("accepted %q: %v", k, err)
			}
		}
		c := Parse([]byte(conf))
		c.AddCache("http://127.0.0.1:9000/nix-cache", keys)
		trusted := Parse(c.Bytes()).List("trusted-public-keys")
		for _, k := range keys {
			if !slices.Contains(trusted, k) {
				t.Fatalf("key %q lost: nix.conf %q trusts %q", k, c.Bytes(), trusted)
			}
		}
	})
}
