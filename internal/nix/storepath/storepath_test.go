package storepath_test

import (
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/nixtest"
	"github.com/nixbucket/nixbucket/internal/nix/storepath"
)

const (
	hash = "xpaid9s2kgics391dr37n3ajn9hzxv9b"
	real = "/nix/store/" + hash + "-nixfmt-layer-2"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in, dir, name string
	}{
		{real, "/nix/store", "nixfmt-layer-2"},
		{"/nix/store/" + hash + "-hello-2.12.1", "/nix/store", "hello-2.12.1"},
		{"/gnu/store/" + hash + "-a", "/gnu/store", "a"},
		{"/s/" + hash + "-x+y_z?=A.B", "/s", "x+y_z?=A.B"},
		{"/nix/store/" + hash + "-.config", "/nix/store", ".config"},
		{"/nix/store/" + hash + "-..a", "/nix/store", "..a"},
		{"/nix/store/" + hash + "-" + strings.Repeat("n", 211), "/nix/store", strings.Repeat("n", 211)},
		{"/nix/store/" + hash + "-foo.drv", "/nix/store", "foo.drv"},
	}
	if _, err := storepath.Containing("/gnu/store", real); err == nil {
		t.Error("Containing accepted a path from another store")
	}
	for _, tt := range tests {
		p, err := storepath.Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if p.Hash() != hash || p.String() != tt.in {
			t.Errorf("Parse(%q) = %q, hash %q", tt.in, p, p.Hash())
		}
		if c, err := storepath.Containing(tt.dir, tt.in); err != nil || c != p {
			t.Errorf("Containing(%q, %q) = %v, %v; want the parsed path", tt.dir, tt.in, c, err)
		}
		base := hash + "-" + tt.name
		if b, err := storepath.ParseBase(base); err != nil || b.String() != storepath.DefaultDir+"/"+base {
			t.Errorf("ParseBase(%q) = %v, %v", base, b, err)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	for _, in := range []string{
		"",
		hash + "-foo",                       // not absolute
		"/" + hash + "-foo",                 // store dir "/" is not allowed
		"/nix/store/",                       // no base name
		"/nix/store/" + hash,                // no name
		"/nix/store/" + hash + "-",          // empty name
		"/nix/store/" + hash + "foo",        // no dash
		"/nix/store/" + hash[:31] + "-foo",  // short hash
		"/nix/store/" + hash[:31] + "e-foo", // e is not base 32
		"/nix/store/" + strings.ToUpper(hash) + "-foo", // upper case hash
		"/nix/store/" + hash + "-" + strings.Repeat("n", 212),
		"/nix/store/" + hash + "-foo bar",
		"/nix/store/" + hash + "-foo/bar",
		"/nix/store/" + hash + "-ünï",
		"/nix/store/" + hash + "-.",
		"/nix/store/" + hash + "-..",
		"/nix/store/" + hash + "-.-foo",
		"/nix/store/" + hash + "-..-foo",
		"/nix/store/" + hash + "-a\x00",
		"/nix//store/" + hash + "-foo",
		"/nix/./store/" + hash + "-foo",
		"nix/store/" + hash + "-foo",
	} {
		if p, err := storepath.Parse(in); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", in, p)
		}
	}
}

func TestContaining(t *testing.T) {
	for _, in := range []string{real, real + "/bin/tool", real + "/"} {
		p, err := storepath.Containing("/nix/store", in)
		if err != nil || p.String() != real {
			t.Errorf("Containing(%q) = %v, %v", in, p, err)
		}
	}
	for _, in := range []string{"/nix/store", "/nix/store/", "/nix/storex/" + hash + "-a", "/tmp/" + hash + "-a"} {
		if p, err := storepath.Containing("/nix/store", in); err == nil {
			t.Errorf("Containing(%q) = %v, want an error", in, p)
		}
	}
}

// TestRealStore parses every entry of the real Nix store.
func TestRealStore(t *testing.T) {
	nixtest.Require(t, "nix-store")
	paths := nixtest.Closure(t)
	for _, s := range paths {
		if p, err := storepath.Containing(storepath.DefaultDir, s); err != nil || p.String() != s {
			t.Errorf("Containing(%q) = %v, %v", s, p, err)
		}
	}
	derivers := strings.Fields(string(nixtest.Run(t, "nix-store", "-q", "--deriver", paths[len(paths)-1])))
	for _, s := range derivers {
		if _, err := storepath.Parse(s); err != nil {
			t.Error(err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(real)
	f.Add("/gnu/store/" + hash + "-.x")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := storepath.Parse(s)
		if err != nil {
			return
		}
		if p.String() != s {
			t.Fatalf("Parse(%q).String() = %q", s, p)
		}
		if q, err := storepath.Containing(s[:strings.LastIndexByte(s, '/')], s); err != nil || q != p {
			t.Fatalf("Containing(the directory of %q) = %v, %v", s, q, err)
		}
	})
}
