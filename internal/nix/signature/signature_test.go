package signature_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

// A key pair written by nix-store --generate-binary-cache-key test-key-1
// (Nix 2.8), and a signature Nix made with it over this fingerprint.
const (
	nixSecret   = "test-key-1:QBPzMgMPIOqiy4rTBvEpRJ6hwSCNM+uMuunPL3YQivAQXVuWTK0BxOqMK8BVUIdhMw8MxdLVQCc+2fywM03PuA=="
	nixPublic   = "test-key-1:EF1blkytAcTqjCvAVVCHYTMPDMXS1UAnPtn8sDNNz7g="
	fingerprint = "1;/nix/store/mn93sr7plzdna0k0lw5446hb7p3icrxn-nixfmt-layer-0;sha256:1kv8nvfrhqyfdzmc93y8qvrplpckpdd6wrmkmcazasbna12xmlnl;3876640;"
	nixSig      = "test-key-1:cB436kmn5my1FOuZimuSKAZBn3XboF5uqQulgF5egW33E9E8kZQ8aF7QAzDN/iww11lbWmh39fyNB9aqTVVNDQ=="
)

func TestNixKeys(t *testing.T) {
	sec, err := signature.ParseSecretKey(nixSecret + "\n")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := signature.ParsePublicKey(nixPublic)
	if err != nil {
		t.Fatal(err)
	}
	if sec.Name() != "test-key-1" || pub.Name() != "test-key-1" || sec.String() != nixSecret || pub.String() != nixPublic {
		t.Fatalf("keys print as %s / %s", sec, pub)
	}
	if !sec.Public().Equal(pub) {
		t.Fatal("secret key's public half differs from the public key file")
	}
	if got := sec.Sign(fingerprint); got != nixSig {
		t.Errorf("Sign = %s, Nix signed %s", got, nixSig)
	}
	if !pub.Verify(fingerprint, nixSig) {
		t.Error("Verify rejects Nix's signature")
	}
}

func TestVerifyRejects(t *testing.T) {
	pub, _ := signature.ParsePublicKey(nixPublic)
	other, _ := signature.Generate("test-key-1")
	sigBytes := strings.TrimPrefix(nixSig, "test-key-1:")
	flipped := []byte(sigBytes)
	flipped[10] ^= 'A' ^ 'B'
	tests := []struct {
		name, fp, sig string
	}{
		{"other fingerprint", fingerprint + "x", nixSig},
		{"other key name", fingerprint, "test-key-2:" + sigBytes},
		{"corrupted", fingerprint, "test-key-1:" + string(flipped)},
		{"same name, other key", fingerprint, other.Sign(fingerprint)},
		{"no name", fingerprint, sigBytes},
		{"short", fingerprint, "test-key-1:AAAA"},
		{"empty", fingerprint, ""},
	}
	for _, tt := range tests {
		if pub.Verify(tt.fp, tt.sig) {
			t.Errorf("%s: Verify accepted", tt.name)
		}
	}
	if signature.VerifyAny([]signature.PublicKey{other.Public()}, fingerprint, []string{nixSig}) {
		t.Error("VerifyAny accepted a signature by an untrusted key")
	}
	if !signature.VerifyAny([]signature.PublicKey{other.Public(), pub}, fingerprint, []string{"junk", nixSig}) {
		t.Error("VerifyAny rejected a good signature among others")
	}
}

func TestGenerate(t *testing.T) {
	k, err := signature.Generate("cache.example.org-1")
	if err != nil {
		t.Fatal(err)
	}
	k2, err := signature.ParseSecretKey(k.String())
	if err != nil || k2.String() != k.String() {
		t.Fatalf("ParseSecretKey(String()) = %v, %v", k2, err)
	}
	p, err := signature.ParsePublicKey(k.Public().String())
	if err != nil || !p.Equal(k.Public()) {
		t.Fatalf("ParsePublicKey(Public().String()) = %v, %v", p, err)
	}
	sig := k.Sign("hello")
	if !p.Verify("hello", sig) {
		t.Fatal("own signature does not verify")
	}
	s, err := signature.ParseSignature(sig)
	if err != nil || s.Name != "cache.example.org-1" || len(s.Bytes) != 64 || sigString(s) != sig {
		t.Fatalf("ParseSignature(%s) = %+v, %v", sig, s, err)
	}
	for _, bad := range []string{"", "a:b", "white space", "co:lon", "tab\t"} {
		if _, err := signature.Generate(bad); err == nil {
			t.Errorf("Generate(%q) accepted", bad)
		}
	}
}

func TestParseErrors(t *testing.T) {
	secB64 := strings.TrimPrefix(nixSecret, "test-key-1:")
	pubB64 := strings.TrimPrefix(nixPublic, "test-key-1:")
	// The seed of nixSecret followed by the public half of another key.
	other, _ := signature.Generate("x")
	seed, _ := base64.StdEncoding.DecodeString(secB64)
	otherPub, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(other.Public().String(), "x:"))
	mismatched := "n:" + base64.StdEncoding.EncodeToString(append(seed[:32:32], otherPub...))
	tests := []struct {
		name, want string
		f          func() error
	}{
		{"secret without name", "not name:base64", func() error { _, err := signature.ParseSecretKey(secB64); return err }},
		{"secret with empty name", "key name is empty", func() error { _, err := signature.ParseSecretKey(":" + secB64); return err }},
		{"public key as secret", "44 base-64 characters, want 88", func() error { _, err := signature.ParseSecretKey(nixPublic); return err }},
		{"secret key as public", "88 base-64 characters, want 44", func() error { _, err := signature.ParsePublicKey(nixSecret); return err }},
		{"bad base64", "illegal base64", func() error { _, err := signature.ParsePublicKey("k:" + strings.Repeat("!", len(pubB64))); return err }},
		{"mismatched halves", "public half does not match the seed", func() error { _, err := signature.ParseSecretKey(mismatched); return err }},
		{"signature with space in name", "contains ' '", func() error { _, err := signature.ParseSignature("a b:" + strings.Repeat("A", 86) + "=="); return err }},
	}
	for _, tt := range tests {
		if err := tt.f(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func FuzzParseSignature(f *testing.F) {
	f.Add(nixSig)
	f.Add(nixPublic)
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := signature.ParseSignature(s)
		if err != nil {
			return
		}
		if got := sigString(sig); got != strings.TrimSpace(s) {
			t.Fatalf("ParseSignature(%q) re-encodes as %q", s, got)
		}
	})
}

// sigString re-encodes a parsed signature as "name:base64".
func sigString(s signature.Signature) string {
	return s.Name + ":" + base64.StdEncoding.EncodeToString(s.Bytes)
}
