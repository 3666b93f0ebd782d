package narinfo

import (
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

// TestSignBeside: a signature under the same key name by another key
// stays; signing twice adds nothing; Sign, by contrast, replaces it.
func TestSignBeside(t *testing.T) {
	up, err := signature.Generate("nix-cache-1")
	if err != nil {
		t.Fatal(err)
	}
	own, err := signature.Generate("nix-cache-1")
	if err != nil {
		t.Fatal(err)
	}
	n := &NarInfo{StorePath: "/nix/store/48x44xldsmc8snq84ynchvny8ky63b7x-x", NarHash: "sha256:0mk21sjd6ps1096m2q0sp8r29fd0fsd0d453ysmwg9kka9bkjx5y", NarSize: 1}
	n.Sign(up)
	n.SignBeside(own)
	n.SignBeside(own)
	if len(n.Sigs) != 2 || !n.Verify(up.Public()) || !n.Verify(own.Public()) {
		t.Errorf("SignBeside: Sigs %q, want the upstream's and its own", n.Sigs)
	}
	n.Sign(own)
	if n.Verify(up.Public()) {
		t.Errorf("Sign kept the other key's signature of the same name: %q", n.Sigs)
	}
}
