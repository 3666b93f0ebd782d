package fastlane

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// prefixConn is a handed-over TCP connection: reads return the bytes
// already read from it first. Besides net.Conn it has the methods
// net/http looks for on a *net.TCPConn: ReadFrom (sendfile for response
// bodies) and CloseWrite. It does not embed the TCPConn, so no method
// that reads (WriteTo) can skip the prefix. Its writes slide the write
// deadline as the fast lane's do, and closing it releases its place under
// the Listener's cap.
type prefixConn struct {
	l      *Listener
	nc     net.Conn     // tc, or TLS over a socket over tc
	tc     *net.TCPConn // the TCP connection
	prefix []byte
	wc     writeClock
	// state is net/http's view (Listener.ConnState): a connection handed
	// over with a request is active, one passed through unread is idle.
	state     atomic.Int32
	idleSince atomic.Int64
	released  atomic.Bool
	// handled is set while what is written is a handler's answer (see
	// markHandled): no refusal of net/http's own, whatever it reads as.
	handled atomic.Bool
	// headBy, when not zero, is when the head of the request handed
	// over must be whole: the first read deadline net/http sets (its
	// header timeout, from its own start) is brought forward to it, so a
	// slow head is not given the timeout twice.
	headBy time.Time
}

// newPrefixConn wraps nc, which is tc or TLS over a socket over tc (whose
// write deadline then slides below the record layer), to hand it over
// with the bytes already read from it.
func newPrefixConn(l *Listener, nc net.Conn, tc *net.TCPConn, prefix []byte) *prefixConn {
	timeout := l.opts.WriteTimeout
	if nc != net.Conn(tc) {
		timeout = 0
	}
	c := &prefixConn{l: l, nc: nc, tc: tc, prefix: prefix, wc: newWriteClock(nc, tc, timeout)}
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
	return c.nc.Read(p)
}

func (c *prefixConn) Write(p []byte) (int, error) {
	n, err := c.wc.write(p)
	if f := c.l.opts.Refused; f != nil && !c.handled.Load() {
		if status, body, ok := refusal(p); ok {
			head := int64(len(p)) - body
			f(c.tc.RemoteAddr(), status, max(0, int64(n)-head)) // the body bytes that left
		}
	}
	return n, err
}

func (c *prefixConn) ReadFrom(r io.Reader) (int64, error) { return c.wc.readFrom(r) }
func (c *prefixConn) LocalAddr() net.Addr                 { return c.tc.LocalAddr() }
func (c *prefixConn) RemoteAddr() net.Addr                { return c.tc.RemoteAddr() }

func (c *prefixConn) SetReadDeadline(t time.Time) error {
	if !c.headBy.IsZero() {
		if !t.IsZero() && t.After(c.headBy) {
			t = c.headBy
		}
		c.headBy = time.Time{}
	}
	return c.nc.SetReadDeadline(t)
}

func (c *prefixConn) CloseWrite() error {
	if tc, ok := c.nc.(*tls.Conn); ok {
		return tc.CloseWrite()
	}
	return c.tc.CloseWrite()
}
func (c *prefixConn) SetWriteDeadline(t time.Time) error { return c.wc.set(t) }

func (c *prefixConn) SetDeadline(t time.Time) error {
	if err := c.nc.SetReadDeadline(t); err != nil {
		return err
	}
	return c.wc.set(t)
}

func (c *prefixConn) Close() error {
	if c.released.CompareAndSwap(false, true) {
		c.state.Store(stateClosed)
		c.l.untrack(c)
	}
	return c.nc.Close()
}

// tlsPrefixConn is a handed-over TLS connection. net/http shakes hands
// only on a *tls.Conn, but it sets Request.TLS from any connection with a
// ConnectionState method, so the requests it serves here still count as
// secure transport.
type tlsPrefixConn struct{ *prefixConn }

func (c *tlsPrefixConn) ConnectionState() tls.ConnectionState {
	return c.nc.(*tls.Conn).ConnectionState()
}

// socket is the TCP connection under a TLS one served by the Listener. Its
// writes run on a writeClock, so the write deadline slides with the
// client's progress under TLS too (a *tls.Conn is broken for good once a
// write times out, so the deadline must not pass while the client moves),
// and closing it calls onClose once.
type socket struct {
	*net.TCPConn
	wc      writeClock
	onClose func()
	once    sync.Once
}

func newSocket(tc *net.TCPConn, timeout time.Duration, onClose func()) *socket {
	return &socket{TCPConn: tc, wc: newWriteClock(tc, tc, timeout), onClose: onClose}
}

func (s *socket) Write(p []byte) (int, error)        { return s.wc.write(p) }
func (s *socket) SetWriteDeadline(t time.Time) error { return s.wc.set(t) }

func (s *socket) SetDeadline(t time.Time) error {
	if err := s.TCPConn.SetReadDeadline(t); err != nil {
		return err
	}
	return s.wc.set(t)
}

func (s *socket) Close() error {
	s.once.Do(s.onClose)
	return s.TCPConn.Close()
}
