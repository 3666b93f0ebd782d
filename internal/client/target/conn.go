package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// DefaultStallTimeout is how long a connection may move no byte while a
// request is on it before push gives the request up (and retries it): Nix's
// stalled-download-timeout, which curl applies to uploads too.
const DefaultStallTimeout = 300 * time.Second

// stallPiece is the most a connection writes under one deadline: a
// deadline bounds a write(2) or sendfile(2) that makes progress, so it
// must not cover more than a stalled link could take to drain slowly.
const stallPiece = 1 << 20

// wrapConns sets up tr's connections: request bodies that can write
// themselves out go in whole chunks (see bodyConn.ReadFrom), and, when
// stall > 0, a connection on which no byte moves for stall fails its
// read or write with a stallError, which every caller retries. Without
// it a server that stops answering (paused, overloaded, or behind a link
// that went quiet) would hold a push forever: TCP keeps a connection
// whose peer acknowledges nothing new open for good.
func wrapConns(tr *http.Transport, stall time.Duration) {
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &bodyConn{Conn: c, stall: stall}, nil
	}
	if stall > 0 && (tr.IdleConnTimeout == 0 || tr.IdleConnTimeout > stall) {
		// An idle connection's read deadline runs out after stall: let
		// the pool drop it first rather than hand it to a request.
		tr.IdleConnTimeout = stall / 2
	}
}

// bodyConn is a connection whose ReadFrom lets a body write itself out,
// and whose reads and writes fail once nothing moves for stall (0: never).
type bodyConn struct {
	net.Conn
	stall time.Duration
	// timedOut: a read or write ran out of time, and net/http closes the
	// connection, which fails the other direction's call as well.
	timedOut atomic.Bool
}

// stallError is a read or write that moved nothing for the stall timeout.
// It is a timeout and a connection error, so that net/http's callers and
// the AWS SDK's retryer retry it as they do a reset connection.
type stallError struct {
	op    string // "read" or "write"
	after time.Duration
}

func (e *stallError) Error() string {
	what := "received"
	if e.op == "write" {
		what = "sent"
	}
	return fmt.Sprintf("the connection stalled: no byte %s for %v (--stall-timeout)", what, e.after)
}
func (e *stallError) Timeout() bool         { return true }
func (e *stallError) Temporary() bool       { return true }
func (e *stallError) ConnectionError() bool { return true }
func (e *stallError) Unwrap() error         { return os.ErrDeadlineExceeded }

// stalled turns the errors a stall causes into a stallError: the call
// that ran out of time, and the one in the other direction that the
// connection's closing then fails.
func (c *bodyConn) stalled(op string, err error) error {
	if c.stall == 0 || err == nil {
		return err
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.timedOut.Store(true)
		return &stallError{op: op, after: c.stall}
	}
	if errors.Is(err, net.ErrClosed) && c.timedOut.Load() {
		return &stallError{op: op, after: c.stall}
	}
	return err
}

// arm gives the next write stall to move a byte; a response awaited
// meanwhile gets as long from now, as the request is still going out.
func (c *bodyConn) arm() {
	if c.stall > 0 {
		d := time.Now().Add(c.stall)
		c.Conn.SetWriteDeadline(d)
		c.Conn.SetReadDeadline(d)
	}
}

func (c *bodyConn) Read(p []byte) (int, error) {
	if c.stall > 0 {
		c.Conn.SetReadDeadline(time.Now().Add(c.stall))
	}
	n, err := c.Conn.Read(p)
	return n, c.stalled("read", err)
}

func (c *bodyConn) Write(p []byte) (int, error) {
	if c.stall == 0 {
		return c.Conn.Write(p)
	}
	var written int
	for len(p) > 0 {
		c.arm()
		n, err := c.Conn.Write(p[:min(len(p), stallPiece)])
		written += n
		p = p[n:]
		if err != nil {
			return written, c.stalled("write", err)
		}
	}
	return written, nil
}

// sizedWriterTo is a reader that writes its remaining Len bytes out
// itself: a spool Reader in memory, a bytes.Reader.
type sizedWriterTo interface {
	io.WriterTo
	Len() int
}

// ReadFrom writes a request body. net/http hands a body of known length
// to it inside an io.LimitedReader, which hides the body's WriteTo; a TCP
// connection then copies anything but a file through a 32 KiB buffer, one
// write(2) per 32 KiB, which costs a NAR upload on loopback a third more
// CPU than 1 MiB writes. So a body that writes itself out does, in whole
// chunks; files still go to sendfile(2), in pieces of stallPiece bytes
// each under its own deadline when stall is set.
func (c *bodyConn) ReadFrom(r io.Reader) (int64, error) {
	lr, limited := r.(*io.LimitedReader)
	if limited {
		if wt, ok := lr.R.(sizedWriterTo); ok && int64(wt.Len()) <= lr.N {
			n, err := wt.WriteTo(struct{ io.Writer }{c})
			lr.N -= n
			return n, err
		}
	}
	rf, ok := c.Conn.(io.ReaderFrom)
	switch {
	case !ok:
		return io.Copy(struct{ io.Writer }{c}, r)
	case c.stall == 0:
		return rf.ReadFrom(r) // sendfile(2) for files
	case !limited:
		return io.Copy(struct{ io.Writer }{c}, r)
	}
	var total int64
	for lr.N > 0 {
		c.arm()
		n, err := rf.ReadFrom(&io.LimitedReader{R: lr.R, N: min(lr.N, stallPiece)})
		lr.N -= n
		total += n
		if err != nil {
			return total, c.stalled("write", err)
		}
		if n == 0 {
			break // the body ended early; net/http tells
		}
	}
	return total, nil
}
