package target

import (
	"context"
	"io"
	"net"
	"net/http"
)

// sendWholeChunks makes tr's connections write request bodies that can
// write themselves out (the Readers of spooled NARs held in memory) in
// whole chunks. net/http hands a body of known length to the connection's
// ReadFrom inside an io.LimitedReader, which hides the body's WriteTo; a
// TCP connection then copies anything but a file through a 32 KiB buffer,
// one write(2) per 32 KiB, which costs a NAR upload on loopback a third
// more CPU than 1 MiB writes. Files still go to sendfile(2).
func sendWholeChunks(tr *http.Transport) {
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &bodyConn{c}, nil
	}
}

// bodyConn is a connection whose ReadFrom lets a body write itself out.
type bodyConn struct{ net.Conn }

// sizedWriterTo is a reader that writes its remaining Len bytes out
// itself: a spool Reader in memory, a bytes.Reader.
type sizedWriterTo interface {
	io.WriterTo
	Len() int
}

func (c *bodyConn) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if wt, ok := lr.R.(sizedWriterTo); ok && int64(wt.Len()) <= lr.N {
			n, err := wt.WriteTo(c.Conn)
			lr.N -= n
			return n, err
		}
	}
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r) // sendfile(2) for files
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
