package fastlane

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// writeChunk is the most one write call hands the kernel under one write
// deadline: with a write timeout of T, a reader slower than writeChunk/T
// (about 2 KiB/s with the default two minutes) is cut off, a faster one
// keeps its connection however long the response takes.
const writeChunk = 256 << 10

// writeClock keeps a connection's write deadline timeout ahead of the
// client's progress, so a client that stops reading is cut off and one
// that reads slowly is not. Each write call first moves the deadline if it
// is more than slack stale (at most once per slack, which keeps runtime
// timer updates off the per-request path). When the deadline passes
// mid-write, the write goes on under a new one if the client took bytes
// meanwhile: the call wrote some, or the kernel's send queue shrank (the
// kernel wakes a blocked writer only once much of a large queue has
// drained, so a slow reader may show no progress to the writer for a
// while). A stalled reader moves nothing, so it cannot extend the
// deadline, however many requests it pipelined. A handler that sets an
// explicit deadline (ResponseController) replaces the sliding one until it
// clears it with the zero time.
//
// A writeClock belongs to the goroutine writing the connection.
type writeClock struct {
	nc      net.Conn      // what writes go to: tc, or TLS over it
	tc      *net.TCPConn  // the socket: its send queue, and sendfile when nc is tc
	timeout time.Duration // 0: no write deadline
	slack   time.Duration
	at      time.Time // the deadline last set
	fixed   bool      // a handler's explicit deadline is in force
	written int64     // bytes handed to the kernel
	acked   int64     // the client's progress when the deadline was set
}

// newWriteClock returns the clock of writes to nc, which is tc or a TLS
// connection over it. Over TLS, progress compares the plaintext written
// with the ciphertext queued, which is off by the records' overhead: a
// client counts as moving once it took more than that.
func newWriteClock(nc net.Conn, tc *net.TCPConn, timeout time.Duration) writeClock {
	return writeClock{nc: nc, tc: tc, timeout: timeout, slack: min(time.Second, timeout/8)}
}

// arm moves the deadline before a write.
func (w *writeClock) arm() {
	if w.fixed || w.timeout <= 0 {
		return
	}
	now := time.Now()
	if w.at.Sub(now) < w.timeout-w.slack {
		w.at = now.Add(w.timeout)
		w.nc.SetWriteDeadline(w.at)
		w.acked = w.progress()
	}
}

// goOn reports, after a write of n bytes failed with err, whether to go
// on writing under a new deadline.
func (w *writeClock) goOn(n int64, err error) bool {
	if w.fixed || !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	if n > 0 {
		return true
	}
	p := w.progress()
	return p >= 0 && p > w.acked
}

// progress is how many bytes the client has acknowledged, give or take a
// constant, or -1 if the kernel does not say.
func (w *writeClock) progress() int64 {
	q := sendQueue(w.tc)
	if q < 0 {
		return -1
	}
	return w.written - q
}

// set is SetWriteDeadline for a handler: a non-zero t holds until cleared.
func (w *writeClock) set(t time.Time) error {
	if t.IsZero() {
		if !w.fixed {
			return nil // the sliding deadline is already in force
		}
		w.fixed = false
		w.at = time.Time{} // the next write sets it
		return w.nc.SetWriteDeadline(t)
	}
	w.fixed = true
	return w.nc.SetWriteDeadline(t)
}

// write writes p in chunks, each under a fresh deadline.
func (w *writeClock) write(p []byte) (int, error) {
	var done int
	for done < len(p) {
		w.arm()
		n, err := w.nc.Write(p[done:min(len(p), done+writeChunk)])
		done += n
		w.written += int64(n)
		if err != nil && !w.goOn(int64(n), err) {
			return done, err
		}
	}
	return done, nil
}

// writev writes head then p, in one call when p is small.
func (w *writeClock) writev(head, p []byte) error {
	first := p[:min(len(p), writeChunk)]
	bufs := net.Buffers{head, first}
	for len(bufs) > 0 {
		w.arm()
		n, err := bufs.WriteTo(w.nc) // consumes what it wrote
		w.written += n
		if err != nil && !w.goOn(n, err) {
			return err
		}
	}
	if len(first) < len(p) {
		_, err := w.write(p[len(first):])
		return err
	}
	return nil
}

// readFrom copies src to the connection, with sendfile for a file as
// TCPConn.ReadFrom does (plain TCP only), in chunks each under a fresh
// deadline.
func (w *writeClock) readFrom(src io.Reader) (int64, error) {
	if w.nc != net.Conn(w.tc) {
		// TLS: the bytes go through the record layer, never sendfile.
		return io.CopyBuffer(writerFunc(w.write), src, make([]byte, 32<<10))
	}
	if w.timeout <= 0 || w.fixed {
		return w.tc.ReadFrom(src)
	}
	// sendfile looks through one *io.LimitedReader to the file, so the
	// chunk limit replaces the caller's rather than wrapping it.
	lr, limited := src.(*io.LimitedReader)
	base := src
	if limited {
		base = lr.R
	}
	if ss, ok := base.(SocketSource); ok && limited {
		if n, err, spliced := w.spliceFrom(ss, lr); spliced {
			return n, err
		}
	}
	if _, ok := base.(syscall.Conn); !ok {
		// Not a file: a failed write would lose what was read for it, so
		// copy through write, which goes on after a timeout.
		return copyPooled(writerFunc(w.write), src)
	}
	var total int64
	for {
		size := int64(writeChunk)
		if limited {
			if lr.N <= 0 {
				return total, nil
			}
			size = min(size, lr.N)
		}
		chunk := io.LimitedReader{R: base, N: size}
		w.arm()
		n, err := w.tc.ReadFrom(&chunk) // sendfile moves the file's offset
		total += n
		w.written += n
		if limited {
			lr.N -= n
		}
		if err != nil {
			if w.goOn(n, err) {
				continue
			}
			return total, err
		}
		if n < size {
			return total, nil // src is at its end
		}
	}
}

// copyBufs holds the buffers of copyPooled.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, writeChunk); return &b }}

// copyPooled copies src to dst through a pooled writeChunk-sized buffer.
// A body streamed from another socket (a NAR from an S3 blob store) goes
// out in 256 KiB writes rather than io.Copy's 32 KiB: on loopback and
// fast links each write costs a syscall and a wakeup of the reader, so
// eight times fewer of them raised a proxied NAR GET from about 0.5 to
// 0.7 of the store's own speed (bench/scale.sh).
func copyPooled(dst io.Writer, src io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	return io.CopyBuffer(dst, src, *bp)
}

// writerFunc is an io.Writer without ReadFrom.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
