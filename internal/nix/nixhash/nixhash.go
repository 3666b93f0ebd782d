// Package nixhash parses and prints SHA-256 digests in the textual forms Nix
// uses: "sha256:<nix32>" (narinfo files, fingerprints), "sha256:<hex>" (the
// Nix database) and SRI "sha256-<base64>" (nix path-info --json).
//
// Only SHA-256 is supported: it is the only algorithm Nix writes for NAR and
// file hashes.
package nixhash

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/nixbucket/nixbucket/internal/nix/nixbase32"
)

// SHA256 is a SHA-256 digest.
type SHA256 [32]byte

// Encoded lengths of a SHA-256 digest.
const (
	nix32Len  = 52
	hexLen    = 64
	base64Len = 44
)

// ErrNotSHA256 reports a hash of another algorithm or without an algorithm
// prefix.
var ErrNotSHA256 = errors.New("not a sha256 hash")

// ParseSHA256 parses "sha256:" followed by the digest in Nix base 32, base 16
// or base 64, or an SRI hash "sha256-<base64>". Like Nix, it tells the
// encodings apart by length.
func ParseSHA256(s string) (SHA256, error) {
	var h SHA256
	var body string
	sri := false
	switch {
	case strings.HasPrefix(s, "sha256:"):
		body = s[len("sha256:"):]
	case strings.HasPrefix(s, "sha256-"):
		body, sri = s[len("sha256-"):], true
	default:
		return h, ErrNotSHA256
	}
	var err error
	switch {
	case len(body) == base64Len:
		// 44 characters without padding decode to 33 bytes: leave room.
		var buf [base64Len / 4 * 3]byte
		var n int
		n, err = base64.StdEncoding.Strict().Decode(buf[:], []byte(body))
		if err == nil && n != len(h) {
			err = fmt.Errorf("%d bytes, want %d", n, len(h))
		}
		copy(h[:], buf[:])
	case sri:
		err = fmt.Errorf("SRI hash is %d base-64 characters, want %d", len(body), base64Len)
	case len(body) == nix32Len:
		_, err = nixbase32.Decode(h[:], []byte(body))
	case len(body) == hexLen:
		_, err = hex.Decode(h[:], []byte(body))
	default:
		err = fmt.Errorf("%d characters is not a sha256 length", len(body))
	}
	if err != nil {
		return SHA256{}, fmt.Errorf("bad sha256 hash %q: %w", s, err)
	}
	return h, nil
}

// String returns "sha256:<nix32>", the form narinfo files and signature
// fingerprints use.
func (h SHA256) String() string {
	var b [len("sha256:") + nix32Len]byte
	copy(b[:], "sha256:")
	nixbase32.Encode(b[len("sha256:"):], h[:])
	return string(b[:])
}

// Nix32 returns the digest in Nix base 32 without the algorithm, as it appears
// in NAR file names (nar/<nix32>.nar.xz).
func (h SHA256) Nix32() string {
	return nixbase32.EncodeToString(h[:])
}

// Hex returns "sha256:<hex>", the form of the Nix database.
func (h SHA256) Hex() string {
	return "sha256:" + hex.EncodeToString(h[:])
}

// SRI returns "sha256-<base64>", the form of nix path-info --json.
func (h SHA256) SRI() string {
	return "sha256-" + base64.StdEncoding.EncodeToString(h[:])
}

// IsCanonical reports whether s is exactly how String prints some digest.
// It does not allocate.
func IsCanonical(s string) bool {
	return len(s) == len("sha256:")+nix32Len && strings.HasPrefix(s, "sha256:") &&
		nixbase32.ValidateString(s[len("sha256:"):]) == nil
}
