package nixhash_test

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/nix/nixtest"
)

// The NarHash of a real path in its three forms, as Nix 2.8 printed them
// (narinfo, nix-store -q --hash, nix path-info --json).
const (
	realNix32 = "sha256:1kv8nvfrhqyfdzmc93y8qvrplpckpdd6wrmkmcazasbna12xmlnl"
	realHex   = "sha256:d4d2da45507669f515abb3666e5abb935d7af3c6c88fc4ea6fce6398ddb668cf"
	realSRI   = "sha256-1NLaRVB2afUVq7Nmblq7k11688bIj8Tqb85jmN22aM8="
	realB64   = "sha256:1NLaRVB2afUVq7Nmblq7k11688bIj8Tqb85jmN22aM8="
)

func TestParseForms(t *testing.T) {
	for _, in := range []string{realNix32, realHex, realSRI, realB64} {
		h, err := nixhash.ParseSHA256(in)
		if err != nil {
			t.Fatalf("ParseSHA256(%q): %v", in, err)
		}
		if h.String() != realNix32 || h.Hex() != realHex || h.SRI() != realSRI {
			t.Errorf("ParseSHA256(%q) prints %s %s %s", in, h, h.Hex(), h.SRI())
		}
		if h.Nix32() != strings.TrimPrefix(realNix32, "sha256:") {
			t.Errorf("Nix32() = %s", h.Nix32())
		}
	}
	if !nixhash.IsCanonical(realNix32) || nixhash.IsCanonical(realHex) || nixhash.IsCanonical(realSRI) {
		t.Error("IsCanonical is wrong")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in        string
		notSHA256 bool
	}{
		{"", true},
		{"md5:3jgzhjhz9zjvbb0kyj7jc500ch", true},
		{"sha512:" + strings.Repeat("0", 103), true},
		{"1kv8nvfrhqyfdzmc93y8qvrplpckpdd6wrmkmcazasbna12xmlnl", true},
		{"SHA256:" + realNix32[7:], true},
		{"sha256:", false},
		{"sha256:" + realNix32[8:], false},                             // 51 chars
		{"sha256:" + realNix32[7:51] + "e", false},                     // not in the alphabet
		{"sha256:" + strings.Repeat("z", 52), false},                   // overflows 256 bits
		{"sha256:" + strings.Repeat("g", 64), false},                   // not hex
		{"sha256-" + realHex[7:], false},                               // SRI must be base 64
		{"sha256-1NLaRVB2afUVq7Nmblq7k11688bIj8Tqb85jmN22aM8", false},  // unpadded
		{"sha256-1NLaRVB2afUVq7Nmblq7k11688bIj8Tqb85jmN22aM9=", false}, // non-canonical padding bits
	}
	for _, tt := range tests {
		_, err := nixhash.ParseSHA256(tt.in)
		if err == nil {
			t.Errorf("ParseSHA256(%q) succeeded", tt.in)
			continue
		}
		if errors.Is(err, nixhash.ErrNotSHA256) != tt.notSHA256 {
			t.Errorf("ParseSHA256(%q) = %v; ErrNotSHA256 expected %v", tt.in, err, tt.notSHA256)
		}
	}
}

// TestAgainstNix checks the three forms against nix hash to-base32/to-sri.
func TestAgainstNix(t *testing.T) {
	nixtest.Require(t, "nix")
	h := nixhash.SHA256(sha256.Sum256([]byte("nixbucket")))
	nix32 := strings.TrimSpace(string(nixtest.Nix(t, "hash", "to-base32", "--type", "sha256", h.Hex()[7:])))
	sri := strings.TrimSpace(string(nixtest.Nix(t, "hash", "to-sri", "--type", "sha256", h.Hex()[7:])))
	if "sha256:"+nix32 != h.String() || sri != h.SRI() {
		t.Errorf("nix says %s and %s; we print %s and %s", nix32, sri, h, h.SRI())
	}
}

func FuzzParseSHA256(f *testing.F) {
	for _, s := range []string{realNix32, realHex, realSRI, realB64} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := nixhash.ParseSHA256(s)
		if err != nil {
			return
		}
		for _, form := range []string{h.String(), h.Hex(), h.SRI()} {
			h2, err := nixhash.ParseSHA256(form)
			if err != nil || h2 != h {
				t.Fatalf("%q -> %q -> %v, %v", s, form, h2, err)
			}
		}
	})
}
