package compress

import (
	"context"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// parallelSlot admits one parallel zstd stream at a time: it already uses
// every core, and each holds a few job buffers of 4 × its window.
var parallelSlot = make(chan struct{}, 1)

// encoders caches stream encoders, which are costly to set up, by their
// settings.
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

func putEncoder(k encoderKey, e *zstd.Encoder) {
	p, _ := encoders.Load(k)
	p.(*sync.Pool).Put(e)
}

// zstdWriter is a pooled encoder for one stream.
type zstdWriter struct {
	*zstd.Encoder
	key      encoderKey
	closed   bool
	parallel bool
}

func newZstd(ctx context.Context, w io.Writer, o Options) (io.WriteCloser, error) {
	level := o.Level
	if level <= 0 {
		level = 3
	}
	k := encoderKey{level: zstd.EncoderLevelFromZstd(level), parallel: o.Parallel && runtime.GOMAXPROCS(0) > 1}
	if k.parallel {
		select {
		case parallelSlot <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	e, err := getEncoder(k)
	if err != nil {
		if k.parallel {
			<-parallelSlot
		}
		return nil, err
	}
	e.Reset(w)
	return &zstdWriter{Encoder: e, key: k, parallel: k.parallel}, nil
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
		putEncoder(z.key, z.Encoder)
	}
	if z.parallel {
		<-parallelSlot
	}
	return err
}
