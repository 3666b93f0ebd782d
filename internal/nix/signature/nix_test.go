package signature_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixtest"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

// TestNixKeyFiles loads key files written by nix-store
// --generate-binary-cache-key.
func TestNixKeyFiles(t *testing.T) {
	secFile, pubFile := nixtest.GenerateKey(t, "cache.example.org-1")
	secText, _ := os.ReadFile(secFile)
	pubText, _ := os.ReadFile(pubFile)
	sec, err := signature.ParseSecretKey(string(secText))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := signature.ParsePublicKey(string(pubText))
	if err != nil {
		t.Fatal(err)
	}
	if !sec.Public().Equal(pub) || sec.String() != string(secText) || pub.String() != string(pubText) {
		t.Fatalf("keys differ from Nix's files:\n%s\n%s", sec, pub)
	}
}

// TestNixSignsWithOurKey writes a key we generated in Nix's file format and
// has `nix copy` sign with it: Nix must load it and make exactly the
// signature we make.
func TestNixSignsWithOurKey(t *testing.T) {
	paths := nixtest.Closure(t)
	key, err := signature.Generate("nixbucket-gen-1")
	if err != nil {
		t.Fatal(err)
	}
	secFile := filepath.Join(t.TempDir(), "sec")
	if err := os.WriteFile(secFile, []byte(key.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := nixtest.Cache(t, "compression=none&secret-key="+secFile, paths...)
	for _, n := range readCache(t, dir, paths) {
		if len(n.Sigs) != 1 || n.Sigs[0] != key.Sign(n.Fingerprint()) {
			t.Errorf("%s: Nix signed %q, we sign %q", n.StorePath, n.Sigs, key.Sign(n.Fingerprint()))
		}
	}
}

// TestNixVerifiesOurSignatures signs an unsigned Nix cache with our code
// and has `nix store verify --sigs-needed 1` check it, trusting our public
// key: good signatures must pass, and signatures over a wrong fingerprint or
// by an untrusted key must not.
func TestNixVerifiesOurSignatures(t *testing.T) {
	paths := nixtest.Closure(t)
	ours, err := signature.Generate("nixbucket-gen-1")
	if err != nil {
		t.Fatal(err)
	}
	secFile, _ := nixtest.GenerateKey(t, "nix-made-1")
	secText, _ := os.ReadFile(secFile)
	nixMade, err := signature.ParseSecretKey(string(secText))
	if err != nil {
		t.Fatal(err)
	}
	stranger, _ := signature.Generate("nixbucket-gen-1")

	verify := func(dir string, trusted ...signature.PublicKey) error {
		var keys []string
		for _, k := range trusted {
			keys = append(keys, k.String())
		}
		args := []string{"--extra-experimental-features", "nix-command", "store", "verify",
			"--store", "file://" + dir, "--sigs-needed", "1",
			"--option", "trusted-public-keys", strings.Join(keys, " ")}
		_, err := nixtest.Command(t, "nix", append(args, paths...)...)
		return err
	}
	resign := func(sign func(*narinfo.NarInfo)) string {
		dir := nixtest.Cache(t, "compression=none", paths...)
		for _, n := range readCache(t, dir, paths) {
			if len(n.Sigs) != 0 {
				t.Fatalf("%s: unexpected signatures %q", n.StorePath, n.Sigs)
			}
			sign(n)
			file := filepath.Join(dir, strings.TrimPrefix(n.StorePath, "/nix/store/")[:32]+".narinfo")
			if err := os.WriteFile(file, []byte(n.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}

	good := resign(func(n *narinfo.NarInfo) { n.Sign(ours); n.Sign(nixMade) })
	if err := verify(good, ours.Public()); err != nil {
		t.Errorf("Nix rejects our signatures: %v", err)
	}
	if err := verify(good, nixMade.Public()); err != nil {
		t.Errorf("Nix rejects our signatures with its own key: %v", err)
	}
	if err := verify(good, stranger.Public()); err == nil {
		t.Error("Nix accepted signatures by a key with the trusted name but other bytes")
	}
	wrong := resign(func(n *narinfo.NarInfo) { n.Sigs = []string{ours.Sign(n.Fingerprint() + "x")} })
	if err := verify(wrong, ours.Public()); err == nil {
		t.Error("Nix accepted signatures over the wrong fingerprint")
	}
}

func readCache(t *testing.T, dir string, paths []string) []*narinfo.NarInfo {
	t.Helper()
	var out []*narinfo.NarInfo
	for _, p := range paths {
		data, err := os.ReadFile(filepath.Join(dir, strings.TrimPrefix(p, "/nix/store/")[:32]+".narinfo"))
		if err != nil {
			t.Fatal(err)
		}
		n, err := narinfo.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Validate(); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}
