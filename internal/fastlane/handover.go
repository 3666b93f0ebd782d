package fastlane

import (
	"io"
	"net"
	"syscall"
	"time"
)

var errTooManyFiles = syscall.EMFILE

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
