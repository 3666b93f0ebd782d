package binarycache

import (
	"bytes"
	"strings"

	"github.com/nixbucket/nixbucket/internal/nix/nixbase32"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/objects"
)

var _ objects.NamedHook = (*Hook)(nil)

// NARFileHash returns the SHA-256 a NAR file's key promises. Nix and Lix
// name the file of every NAR they upload "nar/" + its FileHash in base 32
// + ".nar" + the compression's extension (".xz", ".zst", "" for none…);
// FileHash is the SHA-256 of the file's bytes. Other keys (a pulled NAR's
// "nar/<path hash>-<file hash>…", anything else under nar/) promise
// nothing.
func NARFileHash(key string) (nixhash.SHA256, bool) {
	const n = 52 // a SHA-256 in Nix's base 32
	rest, ok := strings.CutPrefix(key, "nar/")
	if !ok || len(rest) < n {
		return nixhash.SHA256{}, false
	}
	ext, ok := strings.CutPrefix(rest[n:], ".nar")
	if !ok || (ext != "" && !isExtension(ext)) {
		return nixhash.SHA256{}, false
	}
	var h nixhash.SHA256
	if _, err := nixbase32.Decode(h[:], []byte(rest[:n])); err != nil {
		return nixhash.SHA256{}, false
	}
	return h, true
}

// isExtension reports whether s is "." and a compression's extension:
// lower-case letters and digits.
func isExtension(s string) bool {
	if len(s) < 2 || len(s) > 8 || s[0] != '.' {
		return false
	}
	for _, c := range []byte(s[1:]) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Named reports whether key is a NAR file named by its hash.
func (h *Hook) Named(bucket, key string) bool {
	_, ok := NARFileHash(key)
	return ok
}

// CheckNamed refuses bytes under a NAR file's key that are not the file
// the key names.
func (h *Hook) CheckNamed(bucket, key string, sum []byte) error {
	want, ok := NARFileHash(key)
	if !ok || bytes.Equal(want[:], sum) {
		return nil
	}
	var got nixhash.SHA256
	copy(got[:], sum)
	ext := key[len("nar/")+52:]
	return reject("%s: Nix names a NAR file by the SHA-256 of its bytes (its FileHash), and these bytes hash to %s: upload them as nar/%s%s, or upload the file this name is of",
		key, got.String(), got.Nix32(), ext)
}
