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
	for _, tt := range tests {
		p, err := storepath.Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if p.Dir() != tt.dir || p.Hash() != hash || p.Name() != tt.name || p.String() != tt.in ||
			p.Base() != hash+"-"+tt.name || p.IsZero() {
			t.Errorf("Parse(%q) = dir %q hash %q name %q", tt.in, p.Dir(), p.Hash(), p.Name())
		}
		b, err := storepath.ParseBase(p.Base())
		if err != nil || b.WithDir(tt.dir) != p {
			t.Errorf("ParseBase(%q) = %v, %v", p.Base(), b, err)
		}
		n, err := storepath.New(tt.dir, hash, tt.name)
		if err != nil || n != p {
			t.Errorf("New = %v, %v", n, err)
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

func TestParseIn(t *testing.T) {
	if _, err := storepath.ParseIn("/nix/store", real); err != nil {
		t.Error(err)
	}
	if _, err := storepath.ParseIn("/gnu/store", real); err == nil {
		t.Error("ParseIn accepted a path from another store")
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
		if _, err := storepath.ParseIn(storepath.DefaultDir, s); err != nil {
			t.Error(err)
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
		if q, err := storepath.New(p.Dir(), p.Hash(), p.Name()); err != nil || q != p {
			t.Fatalf("New(parts of %q) = %v, %v", s, q, err)
		}
	})
}
