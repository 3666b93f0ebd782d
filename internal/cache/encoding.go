package cache

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
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
func Decoder(enc string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(enc) {
	case "xz":
		return xz.NewReader(r)
	case "bzip2", "x-bzip2":
		return bzip2.NewReader(r), nil
	}
	return nil, nil
}

// decode returns body with its Content-Encoding removed.
func decode(enc string, body []byte, limit int64) ([]byte, error) {
	var r io.Reader
	var err error
	switch strings.ToLower(enc) {
	case "", "identity":
		return body, nil
	case "gzip", "x-gzip":
		r, err = gzip.NewReader(bytes.NewReader(body))
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	case "zstd":
		var d *zstd.Decoder
		d, err = zstd.NewReader(bytes.NewReader(body), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limit)))
		if err == nil {
			defer d.Close()
			r = d
		}
	default:
		if r, err = Decoder(enc, bytes.NewReader(body)); r == nil && err == nil {
			return nil, fmt.Errorf("unsupported Content-Encoding %q", enc)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", enc, err)
	}
	out, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", enc, err)
	}
	if int64(len(out)) > limit {
		return nil, fmt.Errorf("decoded body larger than %d bytes", limit)
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
