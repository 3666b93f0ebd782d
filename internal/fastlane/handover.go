package fastlane

import (
	"crypto/tls"
	"io"
	"net"
	"syscall"
	"time"
)

var errTooManyFiles = syscall.EMFILE

// newPrefixConn wraps a connection to hand over with the bytes already
// read from it.
func newPrefixConn(nc net.Conn, prefix []byte) net.Conn {
	if tc, ok := nc.(*tls.Conn); ok {
		return &tlsPrefixConn{Conn: tc, prefix: prefix}
	}
	return &prefixConn{tc: nc.(*net.TCPConn), prefix: prefix}
}

// prefixConn is a handed-over TCP connection: reads return the bytes
// already read from it first. Besides net.Conn it has the methods
// net/http looks for on a *net.TCPConn: ReadFrom (sendfile for response
// bodies) and CloseWrite. It does not embed the TCPConn, so no method
// that reads (WriteTo) can skip the prefix.
type prefixConn struct {
	tc     *net.TCPConn
	prefix []byte
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

func (c *prefixConn) Write(p []byte) (int, error)         { return c.tc.Write(p) }
func (c *prefixConn) ReadFrom(r io.Reader) (int64, error) { return c.tc.ReadFrom(r) }
func (c *prefixConn) CloseWrite() error                   { return c.tc.CloseWrite() }
func (c *prefixConn) Close() error                        { return c.tc.Close() }
func (c *prefixConn) LocalAddr() net.Addr                 { return c.tc.LocalAddr() }
func (c *prefixConn) RemoteAddr() net.Addr                { return c.tc.RemoteAddr() }
func (c *prefixConn) SetDeadline(t time.Time) error       { return c.tc.SetDeadline(t) }
func (c *prefixConn) SetReadDeadline(t time.Time) error   { return c.tc.SetReadDeadline(t) }
func (c *prefixConn) SetWriteDeadline(t time.Time) error  { return c.tc.SetWriteDeadline(t) }

// tlsPrefixConn is a handed-over TLS connection, read from its prefix
// first like prefixConn. net/http shakes hands only on a *tls.Conn, but it
// sets Request.TLS from any connection with a ConnectionState method, so
// the requests it serves here still count as secure transport.
type tlsPrefixConn struct {
	*tls.Conn
	prefix []byte
}

func (c *tlsPrefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		if len(c.prefix) == 0 {
			c.prefix = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}
