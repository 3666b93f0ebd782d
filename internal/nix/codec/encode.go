package codec

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// WriterOptions says how NewWriter compresses.
type WriterOptions struct {
	// Level is the method's level; -1 selects its default: gzip 6, br 6
	// (Nix uses 11, about 50 times slower), zstd 3 (also for 0, as in
	// libzstd).
	Level int
	// Parallel, for zstd on more than one core, compresses sections of
	// the stream concurrently on every core into one standard frame. Each
	// such stream holds a few job buffers of 4 × its window: the caller
	// bounds how many run at once.
	Parallel bool
}

// NewWriter returns a WriteCloser that compresses into w with method:
// gzip, br or zstd (see Canonical). Close flushes everything to w and
// releases the encoder; it must be called, also after an error.
func NewWriter(method string, w io.Writer, o WriterOptions) (io.WriteCloser, error) {
	switch m := Canonical(method); m {
	case "gzip":
		level := o.Level
		if level < 0 {
			level = gzip.DefaultCompression
		}
		return gzip.NewWriterLevel(w, level)
	case "br":
		level := o.Level
		if level < 0 {
			level = 6
		}
		return brotli.NewWriterLevel(w, level), nil
	case "zstd":
		return newZstdWriter(w, o)
	}
	return nil, fmt.Errorf("%w: cannot encode %q", ErrUnsupported, method)
}

// Encode compresses a small document (a narinfo, a listing, a log) with
// method at its default level; "", "none" and "identity" return data as
// it is.
func Encode(method string, data []byte) ([]byte, error) {
	if Canonical(method) == "none" {
		return data, nil
	}
	var b bytes.Buffer
	w, err := NewWriter(method, &b, WriterOptions{Level: -1})
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return b.Bytes(), nil
}

// encoders caches zstd stream encoders, which are costly to set up, by
// their settings.
var encoders sync.Map // encoderKey → *sync.Pool of *zstd.Encoder

type encoderKey struct {
	level    zstd.EncoderLevel
	parallel bool
}

// windowFor returns the window size of an encoder: 2 MiB up to level 5, as
// the reference zstd uses for level 3 (window log 21), 8 MiB above; half
// as much for parallel encoders, whose memory grows with the window (they
// keep about a dozen jobs of four windows each in flight). On a sample of
// shared libraries the compressed size differs by under 1% between 1 and
// 8 MiB windows.
func windowFor(k encoderKey) int {
	w := 2 << 20
	if k.level > zstd.SpeedDefault {
		w = 8 << 20
	}
	if k.parallel {
		w /= 2
	}
	return w
}

func getEncoder(k encoderKey) (*zstd.Encoder, error) {
	p, _ := encoders.LoadOrStore(k, &sync.Pool{})
	if e, ok := p.(*sync.Pool).Get().(*zstd.Encoder); ok {
		return e, nil
	}
	// No content checksum, as libzstd writes by default (and so Nix): the
	// narinfo's FileHash and NarHash already check the file and its
	// contents, and the xxhash64 is a tenth of the cost of zstd -3 on
	// incompressible data.
	opts := []zstd.EOption{zstd.WithEncoderLevel(k.level), zstd.WithWindowSize(windowFor(k)), zstd.WithEncoderCRC(false)}
	if k.parallel {
		opts = append(opts, zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithConcurrentBlocks(true))
	} else {
		opts = append(opts, zstd.WithEncoderConcurrency(1))
	}
	return zstd.NewWriter(nil, opts...)
}

// zstdWriter is a pooled encoder for one stream.
type zstdWriter struct {
	*zstd.Encoder
	key    encoderKey
	closed bool
}

func newZstdWriter(w io.Writer, o WriterOptions) (io.WriteCloser, error) {
	level := o.Level
	if level <= 0 {
		level = 3
	}
	k := encoderKey{level: zstd.EncoderLevelFromZstd(level), parallel: o.Parallel && runtime.GOMAXPROCS(0) > 1}
	e, err := getEncoder(k)
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	e.Reset(w)
	return &zstdWriter{Encoder: e, key: k}, nil
}

// Close ends the frame and returns the encoder to its pool.
func (z *zstdWriter) Close() error {
	if z.closed {
		return nil
	}
	z.closed = true
	err := z.Encoder.Close()
	z.Encoder.Reset(nil) // drop the destination; stops a failed stream's workers
	if err == nil {
		p, _ := encoders.Load(z.key)
		p.(*sync.Pool).Put(z.Encoder)
	}
	return err
}
