package binarycache

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/nixbucket/nixbucket/internal/nix/decompress"
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
// decompress.MaxWindow fails here with decompress.ErrLimit, before any
// byte is served. The caller closes the reader.
func Decoder(enc string, r io.Reader) (io.ReadCloser, error) {
	switch m := decompress.Canonical(enc); m {
	case "xz", "bzip2":
		return decompress.NewReader(m, r)
	}
	return nil, nil
}

// decode returns body with its Content-Encoding removed, refusing an
// output above limit bytes and any window above decompress.MaxWindow.
func decode(enc string, body []byte, limit int64) ([]byte, error) {
	if !decompress.Supported(enc) {
		return nil, fmt.Errorf("unsupported Content-Encoding %q", enc)
	}
	out, err := decompress.Bytes(enc, body, limit)
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", enc, err)
	}
	return out, nil
}

// encode compresses body with a servable encoding.
func encode(enc string, body []byte) ([]byte, error) {
	var buf bytes.Buffer
	var w io.WriteCloser
	switch strings.ToLower(enc) {
	case "", "identity":
		return body, nil
	case "gzip", "x-gzip":
		w = gzip.NewWriter(&buf)
	case "br":
		w = brotli.NewWriter(&buf)
	case "zstd":
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		w = zw
	default:
		return nil, fmt.Errorf("cannot encode %q", enc)
	}
	if _, err := w.Write(body); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
