package compress

import (
	"context"
	"io"
	"runtime"

	"github.com/nixbucket/nixbucket/internal/nix/codec"
)

// parallelSlot admits one parallel zstd stream at a time: it already uses
// every core, and each holds a few job buffers of 4 × its window.
var parallelSlot = make(chan struct{}, 1)

// slotWriter is a parallel zstd stream that gives its slot back on Close.
type slotWriter struct {
	io.WriteCloser
	closed bool
}

// newZstd returns codec's pooled zstd encoder; a parallel one first waits
// for the parallel slot, or for ctx to end.
func newZstd(ctx context.Context, w io.Writer, o Options) (io.WriteCloser, error) {
	wo := codec.WriterOptions{Level: o.Level, Parallel: o.Parallel}
	if !o.Parallel || runtime.GOMAXPROCS(0) == 1 {
		return codec.NewWriter(Zstd, w, wo)
	}
	select {
	case parallelSlot <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	zw, err := codec.NewWriter(Zstd, w, wo)
	if err != nil {
		<-parallelSlot
		return nil, err
	}
	return &slotWriter{WriteCloser: zw}, nil
}

// Close ends the frame and frees the parallel slot, once.
func (s *slotWriter) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.WriteCloser.Close()
	<-parallelSlot
	return err
}
