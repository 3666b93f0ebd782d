package fastlane

import (
	"io"
	"net"
	"time"
)

// SocketSource is a body that another plain TCP socket gives: a blob of
// an S3 store reached over plain http (s3store). The fast lane splices it
// into the client's socket (splice(2) through a pipe), so a NAR streamed
// through the server never crosses user space: that more than halved the
// server's CPU per proxied byte, which on a machine the store and the
// clients share is most of what a proxied GET costs beyond a direct one.
type SocketSource interface {
	// SpliceSource returns the next n bytes of the body as head, bytes
	// already read from the socket, then the rest from conn; or a nil
	// conn and nil error when it cannot (the body is read as usual). The
	// caller then calls done, exactly once, with how many bytes it moved
	// from conn and the error that stopped it; until then the source is
	// the caller's.
	SpliceSource(n int64) (head []byte, conn *net.TCPConn, done func(moved int64, err error), err error)
}

// spliceIdle bounds the wait for the source's next bytes.
const spliceIdle = 2 * time.Minute

// spliceFrom sends lr, whose reader is ss, by splicing ss's socket into
// the client's, in chunks each under a fresh write deadline. Unlike a
// copy through a buffer it never goes on after a timed-out write: the
// bytes the kernel had taken from the source for it are gone. spliced is
// false when ss declined; nothing was sent then.
func (w *writeClock) spliceFrom(ss SocketSource, lr *io.LimitedReader) (total int64, err error, spliced bool) {
	head, conn, done, err := ss.SpliceSource(lr.N)
	if err != nil {
		return 0, err, true
	}
	if conn == nil {
		return 0, nil, false
	}
	var moved int64
	defer func() { done(moved, err) }()
	if len(head) > 0 {
		n, err := w.write(head)
		total += int64(n)
		lr.N -= int64(n)
		if err != nil {
			return total, err, true
		}
	}
	for lr.N > 0 {
		chunk := io.LimitedReader{R: conn, N: min(writeChunk, lr.N)}
		w.arm()
		conn.SetReadDeadline(time.Now().Add(spliceIdle))
		n, err := w.tc.ReadFrom(&chunk)
		moved += n
		total += n
		w.written += n
		lr.N -= n
		if err == nil && n == 0 {
			err = io.ErrUnexpectedEOF // the source ended early
		}
		if err != nil {
			return total, err, true
		}
	}
	return total, nil, true
}
