package nixconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	key1  = "nix-cache-1:zNWWgRfCHfDicm1NQKgS9frPYj2hjHlmaTrikAN6kPc="
	key2  = "nix-cache-2:Lz0ybJD0uJdTl9JYsAZZQUaPjXbM+YkFBRqh2I4SuYw="
	nixos = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="
	url   = "http://127.0.0.1:9000/nix-cache"
)

func TestAddCache(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		keys     []string
		added    []string
	}{
		{"empty file", "", []string{key1},
			[]string{"extra-substituters = " + url, "extra-trusted-public-keys = " + key1}},
		{"others there", "# mine\nsubstituters = https://cache.nixos.org\ntrusted-public-keys = " + nixos + "\nsandbox = false\n", []string{key1},
			[]string{"extra-substituters = " + url, "extra-trusted-public-keys = " + key1}},
		{"url in substituters", "substituters = https://cache.nixos.org " + url + "/\n", []string{key1},
			[]string{"extra-trusted-public-keys = " + key1}},
		{"url and key as extra", "extra-substituters = " + url + "\nextra-trusted-public-keys = " + key1 + " # ours\n", []string{key1}, nil},
		{"one key of two there", "extra-substituters = " + url + "\ntrusted-public-keys = " + nixos + " " + key1 + "\n", []string{key1, key2},
			[]string{"extra-trusted-public-keys = " + key2}},
		{"url there, no keys", "extra-substituters = " + url + "\n", []string{},
			nil},
		{"a later substituters line wins over an earlier one", "substituters = " + url + "\nsubstituters = https://cache.nixos.org\n", nil,
			[]string{"extra-substituters = " + url}},
		{"commented out", "# substituters = " + url + "\n#trusted-public-keys = " + key1 + "\n", []string{key1},
			[]string{"extra-substituters = " + url, "extra-trusted-public-keys = " + key1}},
		{"no final newline", "sandbox = false", []string{key1},
			[]string{"extra-substituters = " + url, "extra-trusted-public-keys = " + key1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Parse([]byte(tc.in))
			added := c.AddCache(url, tc.keys)
			if strings.Join(added, "\n") != strings.Join(tc.added, "\n") {
				t.Errorf("added %q, want %q", added, tc.added)
			}
			out := string(c.Bytes())
			if !strings.HasPrefix(out, strings.TrimSuffix(tc.in, "\n")) {
				t.Errorf("the lines already there changed:\n%s\nwant them first:\n%s", out, tc.in)
			}
			// Idempotent: a second run adds nothing.
			c2 := Parse([]byte(out))
			if again := c2.AddCache(url, tc.keys); len(again) != 0 || string(c2.Bytes()) != out {
				t.Errorf("second run added %q", again)
			}
			if !containsURL(Parse([]byte(out)).List("substituters"), url) {
				t.Errorf("substituters of the result lack %s:\n%s", url, out)
			}
			for _, k := range tc.keys {
				if !contains(Parse([]byte(out)).List("trusted-public-keys"), k) {
					t.Errorf("trusted-public-keys of the result lack %s:\n%s", k, out)
				}
			}
		})
	}
}

func TestValue(t *testing.T) {
	c := Parse([]byte("netrc-file = /a\n# netrc-file = /c\nnetrc-file = /b   # last\n"))
	if got := c.Value("netrc-file"); got != "/b" {
		t.Errorf("Value(netrc-file) = %q, want /b", got)
	}
	if got := c.Value("sandbox"); got != "" {
		t.Errorf("Value(sandbox) = %q, want empty", got)
	}
}

func TestNetrc(t *testing.T) {
	in := "machine cache.example.org login a password b\n" +
		"machine 127.0.0.1\n  login OLD\n  password OLDPW\n\n" +
		"macdef init\nmachine 127.0.0.1 login fake password fake\n\n" +
		"default login anon password anon\n"
	if l, p, ok := NetrcLookup([]byte(in), "127.0.0.1"); !ok || l != "OLD" || p != "OLDPW" {
		t.Errorf("lookup 127.0.0.1 = %q %q %v", l, p, ok)
	}
	if l, _, ok := NetrcLookup([]byte(in), "elsewhere"); !ok || l != "anon" {
		t.Errorf("lookup elsewhere = %q %v, want the default entry", l, ok)
	}
	out, changed := NetrcSet([]byte(in), "127.0.0.1", "NEW", "NEWPW")
	want := "machine cache.example.org login a password b\n" +
		"machine 127.0.0.1 login NEW password NEWPW\n" +
		"macdef init\nmachine 127.0.0.1 login fake password fake\n\n" +
		"default login anon password anon\n"
	if !changed || string(out) != want {
		t.Errorf("NetrcSet replaced to\n%s\nwant\n%s", out, want)
	}
	if again, changed := NetrcSet(out, "127.0.0.1", "NEW", "NEWPW"); changed || string(again) != string(out) {
		t.Errorf("NetrcSet of the same line changed the file:\n%s", again)
	}
	// A commented-out entry is no entry, for curl (Nix) either.
	commented := "# machine h login old password old\nmachine x login y password z\n"
	if l, _, ok := NetrcLookup([]byte(commented), "h"); ok {
		t.Errorf("lookup in a comment found %q", l)
	}
	if out, _ := NetrcSet([]byte(commented), "h", "l", "p"); string(out) != commented+"machine h login l password p\n" {
		t.Errorf("NetrcSet edited a comment:\n%s", out)
	}
	added, changed := NetrcSet([]byte("machine x login y password z"), "h", "l", "p")
	if !changed || string(added) != "machine x login y password z\nmachine h login l password p\n" {
		t.Errorf("NetrcSet appended to\n%s", added)
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.conf")
	if err := os.WriteFile(real, []byte("old\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "nix.conf")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", fi.Mode(), err)
	}
	if fi, _ := os.Stat(real); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640 kept", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(real); string(b) != "new\n" {
		t.Errorf("content %q", b)
	}
	fresh := filepath.Join(dir, "sub", "dir", "nix.conf")
	if err := WriteFile(fresh, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(fresh); fi.Mode().Perm() != 0o644 {
		t.Errorf("new file mode %v, want 0644", fi.Mode().Perm())
	}
	netrc := filepath.Join(dir, "netrc")
	os.WriteFile(netrc, nil, 0o644)
	if err := WritePrivate(netrc, []byte("machine h login l password p\n")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(netrc); fi.Mode().Perm() != 0o600 {
		t.Errorf("netrc mode %v, want 0600", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 4 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

// TestPublicKeys: only a list of NAME:BASE64 keys Nix can parse is
// accepted, so `use` never writes a nix.conf that stops Nix.
func TestPublicKeys(t *testing.T) {
	const key = "cache-1:8Xm4FSsZ1Rz7xPnCqJb2S/yNhO4W1YXeqGY8bd0Ai7I="
	if got, err := PublicKeys(" " + key + "\n" + key + "\n"); err != nil || len(got) != 2 || got[0] != key {
		t.Errorf("PublicKeys(two keys) = %q, %v", got, err)
	}
	if got, err := PublicKeys(""); err != nil || len(got) != 0 {
		t.Errorf("PublicKeys(\"\") = %q, %v", got, err)
	}
	for _, bad := range []string{
		"<html><title>Sign in</title></html>",
		"cache-1:8Xm4FSsZ1Rz7xPnCqJb2S/yNhO4W1YXeqGY8bd0Ai7",
		"a#b:8Xm4FSsZ1Rz7xPnCqJb2S/yNhO4W1YXeqGY8bd0Ai7I=",
		key + " x",
	} {
		if got, err := PublicKeys(bad); err == nil {
			t.Errorf("PublicKeys(%q) = %q", bad, got)
		}
	}
}
