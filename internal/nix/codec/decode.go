// Package codec encodes and decodes the compressions a binary cache meets
// (the narinfo Compression of NARs, the Content-Encoding of narinfos,
// listings and logs). It is the one home of the gzip, brotli and zstd
// encoders and of every decoder, for the server and for push alike.
//
// Decoding keeps memory bounded whatever the input claims. A compressed
// stream names the window (dictionary) its decoder needs, and the common
// decoders allocate it up front: an 80-byte xz stream may ask for 4 GiB.
// Every decoder here refuses a window above MaxWindow before allocating
// it, and Bytes, for small documents, bounds memory by the output size
// rather than the window.
package codec

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// MaxWindow is the largest window or dictionary a stream may ask for.
// xz -9 uses 64 MiB, zstd -19 8 MiB (up to 128 MiB only with --long or
// --ultra), brotli at most 16 MiB, gzip 32 KiB and bzip2 900 kB.
const MaxWindow = 64 << 20

// ErrLimit is returned (wrapped, with the reason) when a stream asks for
// more than the limits allow: a larger window, or more output.
var ErrLimit = errors.New("over the decoder's limit")

// ErrUnsupported is returned (wrapped) for a compression it cannot decode.
var ErrUnsupported = errors.New("unsupported compression")

// Canonical returns the name of a compression method, as narinfo
// Compression fields and Content-Encoding headers spell it, in the form
// NewReader knows: "none", "xz", "zstd", "bzip2", "gzip", "br", or the
// lowercased input when it is none of those.
func Canonical(method string) string {
	switch m := strings.ToLower(strings.TrimSpace(method)); m {
	case "", "none", "identity":
		return "none"
	case "x-bzip2":
		return "bzip2"
	case "x-gzip":
		return "gzip"
	case "zst":
		return "zstd"
	default:
		return m
	}
}

// Supported reports whether NewReader can decode method.
func Supported(method string) bool {
	switch Canonical(method) {
	case "none", "xz", "zstd", "bzip2", "gzip", "br":
		return true
	}
	return false
}

// NewReader returns a reader of the decoded bytes of r, compressed with
// method (see Canonical). It reads and checks the stream's header first,
// so a stream whose window is above MaxWindow fails here, with ErrLimit.
// Memory stays below MaxWindow plus a few MiB per reader. Close releases
// the decoder; it does not close r.
func NewReader(method string, r io.Reader) (io.ReadCloser, error) {
	switch m := Canonical(method); m {
	case "none":
		return io.NopCloser(r), nil
	case "xz":
		return newXz(r, MaxWindow)
	case "zstd":
		d, err := zstd.NewReader(r,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(MaxWindow),
			// The output of a stream is unbounded; MaxMemory would
			// also cap it, and it caps the window no higher than itself.
			zstd.WithDecoderMaxMemory(1<<62))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return &zstdReader{d}, nil
	case "bzip2":
		return io.NopCloser(bzip2.NewReader(r)), nil
	case "gzip":
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return z, nil
	case "br":
		return io.NopCloser(brotli.NewReader(r)), nil
	default:
		return nil, fmt.Errorf("%w %q", ErrUnsupported, method)
	}
}

// zstdReader maps zstd's window error to ErrLimit.
type zstdReader struct{ d *zstd.Decoder }

func (z *zstdReader) Read(p []byte) (int, error) {
	n, err := z.d.Read(p)
	if err != nil && err != io.EOF {
		err = zstdError(err)
	}
	return n, err
}

func (z *zstdReader) Close() error { z.d.Close(); return nil }

func zstdError(err error) error {
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return fmt.Errorf("zstd: %w: window above %d bytes or output too large: %v", ErrLimit, MaxWindow, err)
	}
	return fmt.Errorf("zstd: %w", err)
}

// Bytes decodes a small document (a narinfo, a listing) of at most limit
// decoded bytes. Memory is bounded by limit, not by the window the stream
// names: a zstd frame from a pipe names 2 MiB or more for a 300-byte
// narinfo. A larger output fails with ErrLimit.
func Bytes(method string, body []byte, limit int64) ([]byte, error) {
	switch m := Canonical(method); m {
	case "none":
		if int64(len(body)) > limit {
			return nil, tooLarge(limit)
		}
		return body, nil
	case "zstd":
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(MaxWindow),
			zstd.WithDecoderMaxMemory(MaxWindow),
			zstd.WithDecodeAllCapLimit(true))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer d.Close()
		// DecodeAll decodes into dst, whose capacity bounds the output:
		// the window is then only the part of dst already written.
		out, err := d.DecodeAll(body, make([]byte, 0, limit))
		if err != nil {
			if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
				return nil, tooLarge(limit)
			}
			return nil, zstdError(err)
		}
		return out, nil
	case "xz":
		// The dictionary never needs to hold more than the output.
		r, err := newXz(bytes.NewReader(body), int(min(limit+1, MaxWindow)))
		if err != nil {
			return nil, err
		}
		return readLimited(r, limit)
	default:
		r, err := NewReader(m, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		defer r.Close()
		return readLimited(r, limit)
	}
}

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(out)) > limit {
		return nil, tooLarge(limit)
	}
	return out, nil
}

func tooLarge(limit int64) error {
	return fmt.Errorf("%w: decodes to more than %d bytes", ErrLimit, limit)
}
