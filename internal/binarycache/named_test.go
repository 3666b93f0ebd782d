package binarycache

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/objects"
)

func TestNARFileHash(t *testing.T) {
	sum := nixhash.SHA256(sha256.Sum256([]byte("a NAR")))
	h := sum.Nix32()
	for _, tc := range []struct {
		key   string
		named bool
	}{
		{"nar/" + h + ".nar", true}, // compression=none
		{"nar/" + h + ".nar.xz", true},
		{"nar/" + h + ".nar.zst", true},
		{"nar/" + h + ".nar.bz2", true},
		{"nar/" + h + ".nar.lzip", true},
		{"nar/" + h + ".nar.br", true},
		{"nar/" + h[:32] + "-" + h + ".nar.xz", false}, // a pulled NAR's key
		{"nar/" + h + ".nar.xz.tmp/x", false},
		{"nar/" + h + ".nar.XZ", false},
		{"nar/" + h + ".narinfo", false},
		{"nar/" + h + ".ls", false},
		{"nar/" + h, false},
		{"nar/" + strings.Replace(h, h[:1], "e", 1) + ".nar", h[0] == 'e'}, // 'e' is not a Nix base-32 digit
		{"nars/" + h + ".nar", false},
		{h + ".narinfo", false},
		{"nar/.nar", false},
	} {
		got, ok := NARFileHash(tc.key)
		if ok != tc.named || (ok && got != sum) {
			t.Errorf("NARFileHash(%q) = %v, %v; want named %v", tc.key, got, ok, tc.named)
		}
	}
	hook := &Hook{}
	if err := hook.CheckNamed("b", "nar/"+h+".nar.xz", sum[:]); err != nil {
		t.Errorf("CheckNamed of the named bytes: %v", err)
	}
	other := sha256.Sum256([]byte("other bytes"))
	err := hook.CheckNamed("b", "nar/"+h+".nar.xz", other[:])
	if !errors.Is(err, objects.ErrRejected) || !strings.Contains(err.Error(), "nar/"+nixhash.SHA256(other).Nix32()+".nar.xz") {
		t.Errorf("CheckNamed of other bytes: %v, want a rejection naming their own key", err)
	}
	if err := hook.CheckNamed("b", "scratch/x", other[:]); err != nil {
		t.Errorf("CheckNamed of a key that promises nothing: %v", err)
	}
}
