package binarycache

import (
	"fmt"
	"io"
	"strings"

	"github.com/nixbucket/nixbucket/internal/nix/codec"
)

// Content-Encoding handling. Nix uploads narinfos, listings and logs with
// the encoding named by narinfo-/ls-/log-compression. Newer Nix and Lix
// decode through libcurl, which knows gzip, br and zstd only, so those are
// served as uploaded, while xz and bzip2 are decoded before serving.

// servable reports whether an encoding may be sent to clients as is.
func servable(enc string) bool {
	switch strings.ToLower(enc) {
	case "", "gzip", "br", "zstd":
		return true
	}
	return false
}

// Decoder returns a reader of the decoded bytes of r for an encoding that
// is not servable (xz, bzip2), or nil when the encoding needs no decoding.
// It reads the stream's header first: a window or dictionary above
// codec.MaxWindow fails here with codec.ErrLimit, before any
// byte is served. The caller closes the reader.
func Decoder(enc string, r io.Reader) (io.ReadCloser, error) {
	switch m := codec.Canonical(enc); m {
	case "xz", "bzip2":
		return codec.NewReader(m, r)
	}
	return nil, nil
}

// decode returns body with its Content-Encoding removed, refusing an
// output above limit bytes and any window above codec.MaxWindow.
func decode(enc string, body []byte, limit int64) ([]byte, error) {
	if !codec.Supported(enc) {
		return nil, fmt.Errorf("unsupported Content-Encoding %q", enc)
	}
	out, err := codec.Bytes(enc, body, limit)
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", enc, err)
	}
	return out, nil
}
