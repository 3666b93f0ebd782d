package s3store

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
)

// A streamed PUT's body reaches the store through net/http's copy of the
// request body, which wraps it in an io.LimitedReader and so copies it
// through a 32 KiB buffer: a 1 MiB blob went out in 32 writes, each a
// wake-up of the store, while the body arrives here in the object
// layer's 256 KiB chunks (objects.chunkSize, through stream.go's pipe).
// bigWriteConn gives the transport's connections a ReadFrom that passes
// on each chunk in one write. It reads once per write and never waits to
// fill its buffer, so a slow client delays nothing.

// bigWriteSize is the largest write: the object layer's chunk.
const bigWriteSize = 256 << 10

var bigWriteBufs = sync.Pool{New: func() any { b := make([]byte, bigWriteSize); return &b }}

// bigWriteConn is a connection of the SDK's transport.
type bigWriteConn struct {
	net.Conn
}

// ReadFrom copies r to the connection in writes of up to bigWriteSize
// bytes. A file (a blob migrated from a data directory) keeps the
// connection's own ReadFrom and with it sendfile.
func (c bigWriteConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok && isFile(r) {
		return rf.ReadFrom(r)
	}
	bp := bigWriteBufs.Get().(*[]byte)
	defer bigWriteBufs.Put(bp)
	buf := *bp
	var total int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			m, werr := c.Conn.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

func isFile(r io.Reader) bool {
	if lr, ok := r.(*io.LimitedReader); ok {
		r = lr.R
	}
	_, ok := r.(*os.File)
	return ok
}

// bigWriteDialer wraps dial's connections in bigWriteConn.
func bigWriteDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return bigWriteConn{c}, nil
	}
}
