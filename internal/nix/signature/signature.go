// Package signature implements Nix's Ed25519 binary-cache signatures and the
// key format of nix-store --generate-binary-cache-key.
//
// A secret key is "name:" followed by the base-64 encoding of 64 bytes (the
// Ed25519 seed, then the public key); a public key is "name:" and the base-64
// encoding of 32 bytes; a signature is "name:" and the base-64 encoding of
// the 64-byte Ed25519 signature of a narinfo fingerprint. The name tells a
// verifier which trusted key to try.
package signature

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// SecretKey is a named Ed25519 signing key.
type SecretKey struct {
	name string
	key  ed25519.PrivateKey
}

// PublicKey is a named Ed25519 verification key.
type PublicKey struct {
	name string
	key  ed25519.PublicKey
}

// Signature is a parsed "name:base64" signature.
type Signature struct {
	Name  string
	Bytes []byte // 64 bytes
}

// Generate returns a new secret key with the given name, from crypto/rand.
func Generate(name string) (SecretKey, error) {
	if err := validateName(name); err != nil {
		return SecretKey{}, err
	}
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return SecretKey{}, fmt.Errorf("generating key %q: %w", name, err)
	}
	return SecretKey{name: name, key: priv}, nil
}

// ParseSecretKey parses a secret key, as written by nix-store
// --generate-binary-cache-key. Surrounding white space (a trailing newline
// added by an editor) is ignored. It checks that the public half matches the
// seed: Nix does not, and a mismatched key makes signatures nobody can verify.
func ParseSecretKey(s string) (SecretKey, error) {
	name, raw, err := decode(s, ed25519.PrivateKeySize, "secret key")
	if err != nil {
		return SecretKey{}, err
	}
	key := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
	if !bytes.Equal(key[ed25519.SeedSize:], raw[ed25519.SeedSize:]) {
		return SecretKey{}, fmt.Errorf("secret key %q: public half does not match the seed", name)
	}
	return SecretKey{name: name, key: key}, nil
}

// ParsePublicKey parses a public key, as written by nix-store
// --generate-binary-cache-key and listed in trusted-public-keys.
func ParsePublicKey(s string) (PublicKey, error) {
	name, raw, err := decode(s, ed25519.PublicKeySize, "public key")
	if err != nil {
		return PublicKey{}, err
	}
	return PublicKey{name: name, key: raw}, nil
}

// ParseSignature parses a "name:base64" signature (a narinfo Sig value).
func ParseSignature(s string) (Signature, error) {
	name, raw, err := decode(s, ed25519.SignatureSize, "signature")
	if err != nil {
		return Signature{}, err
	}
	return Signature{Name: name, Bytes: raw}, nil
}

// Name returns the key's name.
func (k SecretKey) Name() string { return k.name }

// String returns the key in Nix's secret key file format (no newline, as
// nix-store writes it).
func (k SecretKey) String() string { return encode(k.name, k.key) }

// Public returns the matching public key.
func (k SecretKey) Public() PublicKey {
	return PublicKey{name: k.name, key: k.key.Public().(ed25519.PublicKey)}
}

// Sign signs a fingerprint (see narinfo.NarInfo.Fingerprint) and returns the
// "name:base64" signature. Ed25519 is deterministic: the same key and
// fingerprint always give the same signature, the one Nix would write.
func (k SecretKey) Sign(fingerprint string) string {
	return encode(k.name, ed25519.Sign(k.key, []byte(fingerprint)))
}

// Name returns the key's name.
func (k PublicKey) Name() string { return k.name }

// String returns the key in trusted-public-keys form, "name:base64".
func (k PublicKey) String() string { return encode(k.name, k.key) }

// Equal reports whether k and o are the same named key.
func (k PublicKey) Equal(o PublicKey) bool {
	return k.name == o.name && bytes.Equal(k.key, o.key)
}

// Verify reports whether sig is a valid signature of fingerprint by this key.
// A signature under another key name, or one that does not parse, is not
// valid.
func (k PublicKey) Verify(fingerprint, sig string) bool {
	s, err := ParseSignature(sig)
	if err != nil || s.Name != k.name {
		return false
	}
	return ed25519.Verify(k.key, []byte(fingerprint), s.Bytes)
}

// VerifyAny reports whether any of sigs is a valid signature of fingerprint by
// one of keys, which is how Nix decides that a path is trusted.
func VerifyAny(keys []PublicKey, fingerprint string, sigs []string) bool {
	for _, sig := range sigs {
		for _, k := range keys {
			if k.Verify(fingerprint, sig) {
				return true
			}
		}
	}
	return false
}

func encode(name string, raw []byte) string {
	return name + ":" + base64.StdEncoding.EncodeToString(raw)
}

func decode(s string, size int, what string) (string, []byte, error) {
	s = strings.TrimSpace(s)
	name, b64, ok := strings.Cut(s, ":")
	if !ok {
		return "", nil, fmt.Errorf("%s %.40q is not name:base64", what, s)
	}
	if err := validateName(name); err != nil {
		return "", nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(b64) != base64.StdEncoding.EncodedLen(size) {
		return "", nil, fmt.Errorf("%s %q: %d base-64 characters, want %d", what, name, len(b64), base64.StdEncoding.EncodedLen(size))
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return "", nil, fmt.Errorf("%s %q: %w", what, name, err)
	}
	if len(raw) != size {
		return "", nil, fmt.Errorf("%s %q: %d bytes, want %d", what, name, len(raw), size)
	}
	return name, raw, nil
}

// validateName accepts a key name that survives a narinfo Sig line and a
// trusted-public-keys list: not empty, no colon, white space or control
// characters.
func validateName(name string) error {
	if name == "" {
		return errors.New("key name is empty")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c == ':' || c == 0x7f {
			return fmt.Errorf("key name %q contains %q", name, c)
		}
	}
	return nil
}
