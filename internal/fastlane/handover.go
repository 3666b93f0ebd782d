package fastlane

import (
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

var errTooManyFiles = syscall.EMFILE

// prefixConn is a handed-over TCP connection: reads return the bytes
// already read from it first. Besides net.Conn it has the methods
// net/http looks for on a *net.TCPConn: ReadFrom (sendfile for response
// bodies) and CloseWrite. It does not embed the TCPConn, so no method
// that reads (WriteTo) can skip the prefix. Its writes slide the write
// deadline as the fast lane's do, and closing it releases its place under
// the Listener's cap.
type prefixConn struct {
	l      *Listener
	tc     *net.TCPConn
	prefix []byte
	wc     writeClock
	// state is net/http's view (Listener.ConnState): a connection handed
	// over with a request is active, one passed through unread is idle.
	state     atomic.Int32
	idleSince atomic.Int64
	released  atomic.Bool
}

func newPrefixConn(l *Listener, tc *net.TCPConn, prefix []byte) *prefixConn {
	c := &prefixConn{l: l, tc: tc, prefix: prefix, wc: newWriteClock(tc, l.opts.WriteTimeout)}
	if len(prefix) == 0 {
		c.idleSince.Store(time.Now().UnixNano())
		c.state.Store(stateIdle)
	}
	return c
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		if len(c.prefix) == 0 {
			c.prefix = nil
		}
		return n, nil
	}
	return c.tc.Read(p)
}

func (c *prefixConn) Write(p []byte) (int, error)         { return c.wc.write(p) }
func (c *prefixConn) ReadFrom(r io.Reader) (int64, error) { return c.wc.readFrom(r) }
func (c *prefixConn) CloseWrite() error                   { return c.tc.CloseWrite() }
func (c *prefixConn) LocalAddr() net.Addr                 { return c.tc.LocalAddr() }
func (c *prefixConn) RemoteAddr() net.Addr                { return c.tc.RemoteAddr() }
func (c *prefixConn) SetReadDeadline(t time.Time) error   { return c.tc.SetReadDeadline(t) }
func (c *prefixConn) SetWriteDeadline(t time.Time) error  { return c.wc.set(t) }

func (c *prefixConn) SetDeadline(t time.Time) error {
	if err := c.tc.SetReadDeadline(t); err != nil {
		return err
	}
	return c.wc.set(t)
}

func (c *prefixConn) Close() error {
	if c.released.CompareAndSwap(false, true) {
		c.state.Store(stateClosed)
		c.l.untrack(c)
	}
	return c.tc.Close()
}
