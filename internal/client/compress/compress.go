// Package compress writes the compressed NAR files and encoded metadata of
// a binary cache: zstd (in parallel for large NARs), xz (through the xz
// program), brotli, gzip, or none, with the file extensions and
// Compression names Nix uses. The gzip, brotli and zstd encoders are
// internal/nix/codec's, which the server uses too; this package adds the
// xz program and the one-at-a-time rule for parallel zstd.
package compress

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/nixbucket/nixbucket/internal/nix/codec"
)

// Methods, spelt as in narinfo Compression fields and store URLs.
const (
	Zstd   = "zstd"
	Xz     = "xz"
	Brotli = "br"
	Gzip   = "gzip"
	None   = "none"
)

// Options says how to compress.
type Options struct {
	Method string // one of the methods above
	// Level is the method's level; -1 selects its default: zstd 3 (also
	// for 0, as in libzstd), xz 6, br 6 (Nix uses 11, about 50 times
	// slower), gzip 6.
	Level int
	// Parallel spreads the work over all cores: zstd compresses sections of
	// the stream concurrently into one standard frame, and xz runs with
	// -T0. It is meant for large inputs; at most one parallel zstd stream
	// runs at a time (NewWriter waits for it), which bounds memory.
	Parallel bool
}

// Ext returns the file extension Nix gives NARs compressed with method:
// "nar/<hash>.nar" + Ext.
func Ext(method string) string {
	switch method {
	case Zstd:
		return ".zst"
	case Xz:
		return ".xz"
	case Brotli:
		return ".br"
	default: // gzip and none have none
		return ""
	}
}

// NewWriter returns a WriteCloser that compresses into w. Close flushes
// everything to w and releases resources; it must be called, also after an
// error (then its error may be ignored). For a parallel zstd writer,
// NewWriter waits until no other parallel stream runs, or ctx ends.
func NewWriter(ctx context.Context, w io.Writer, o Options) (io.WriteCloser, error) {
	if err := CheckLevel(o.Method, o.Level); err != nil {
		return nil, fmt.Errorf("compress: %w", err)
	}
	switch o.Method {
	case Zstd:
		return newZstd(ctx, w, o)
	case Xz:
		return newXz(ctx, w, o)
	case Brotli, Gzip:
		return codec.NewWriter(o.Method, w, codec.WriterOptions{Level: o.Level})
	case None:
		return nopCloser{w}, nil
	}
	return nil, fmt.Errorf("compress: unknown method %q", o.Method)
}

// CheckLevel reports whether level is one of method's: -1 (the default)
// or 0 to the method's highest (for zstd, 0 is the default too). As in
// Nix, none takes any level and ignores it, so one store URL serves
// whatever its compression= says.
func CheckLevel(method string, level int) error {
	if method == None {
		return nil
	}
	hi := map[string]int{Zstd: 22, Xz: 9, Brotli: 11, Gzip: 9}[method]
	if level < -1 || level > hi {
		return fmt.Errorf("%s level %d out of range (0…%d, or -1 for the default)", method, level, hi)
	}
	return nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// Encode compresses a small document (a narinfo or a listing) for upload
// with Content-Encoding: method, which may be gzip, br, zstd or xz.
func Encode(ctx context.Context, method string, data []byte) ([]byte, error) {
	if method != Xz {
		return codec.Encode(method, data)
	}
	var b bytes.Buffer
	w, err := newXz(ctx, &b, Options{Method: Xz, Level: -1})
	if err != nil {
		return nil, err
	}
	_, err = w.Write(data)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
