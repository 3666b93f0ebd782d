package fastlane

import (
	"io"
	"net"
	"time"
)

// writeChunk is the most one write call hands the kernel under one write
// deadline: with a write timeout of T, a reader slower than writeChunk/T
// (about 2 KiB/s with the default two minutes) is cut off, a faster one
// keeps its connection however long the response takes.
const writeChunk = 256 << 10

// writeClock keeps a connection's write deadline timeout ahead of the last
// write that made progress, so a client that stops reading is cut off and
// one that reads slowly is not. Each write call first moves the deadline
// if it is more than slack stale: a write call only starts once the one
// before it returned, so a stalled reader cannot move it. Moving it at
// most once per slack keeps runtime timer updates off the per-request
// path. A handler that sets an explicit deadline (ResponseController)
// replaces the sliding one until it clears it with the zero time.
//
// A writeClock belongs to the goroutine writing the connection.
type writeClock struct {
	tc      *net.TCPConn
	timeout time.Duration // 0: no write deadline
	slack   time.Duration
	at      time.Time // the deadline last set
	fixed   bool      // a handler's explicit deadline is in force
}

func newWriteClock(tc *net.TCPConn, timeout time.Duration) writeClock {
	return writeClock{tc: tc, timeout: timeout, slack: min(time.Second, timeout/8)}
}

// arm moves the deadline before a write.
func (w *writeClock) arm() {
	if w.fixed || w.timeout <= 0 {
		return
	}
	now := time.Now()
	if w.at.Sub(now) < w.timeout-w.slack {
		w.at = now.Add(w.timeout)
		w.tc.SetWriteDeadline(w.at)
	}
}

// set is SetWriteDeadline for a handler: a non-zero t holds until cleared.
func (w *writeClock) set(t time.Time) error {
	if t.IsZero() {
		if !w.fixed {
			return nil // the sliding deadline is already in force
		}
		w.fixed = false
		w.at = time.Time{} // the next write sets it
		return w.tc.SetWriteDeadline(t)
	}
	w.fixed = true
	return w.tc.SetWriteDeadline(t)
}

// write writes p in chunks, each under a fresh deadline.
func (w *writeClock) write(p []byte) (int, error) {
	var done int
	for {
		w.arm()
		n, err := w.tc.Write(p[done:min(len(p), done+writeChunk)])
		done += n
		if err != nil || done == len(p) {
			return done, err
		}
	}
}

// writev writes head then p, in one call when p is small.
func (w *writeClock) writev(head, p []byte) error {
	first := p[:min(len(p), writeChunk)]
	w.arm()
	bufs := net.Buffers{head, first}
	if _, err := bufs.WriteTo(w.tc); err != nil {
		return err
	}
	if len(first) < len(p) {
		_, err := w.write(p[len(first):])
		return err
	}
	return nil
}

// readFrom copies src to the connection (sendfile for a file, as
// TCPConn.ReadFrom does) in chunks, each under a fresh deadline.
func (w *writeClock) readFrom(src io.Reader) (int64, error) {
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
		n, err := w.tc.ReadFrom(&chunk)
		total += n
		if limited {
			lr.N -= n
		}
		if err != nil || n < size {
			return total, err // n < size: src is at its end
		}
	}
}
