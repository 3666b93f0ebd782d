package fastlane

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strconv"
)

// refusalHeaders are the headers of every answer net/http writes by itself
// to a request it could not read (http.conn.serve's errorHeaders), right
// after the status line. A handler's answer never starts so: net/http
// writes the headers a handler set in sorted order before those it adds,
// and the server's handler always sets X-Amz-Request-Id.
const refusalHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// refusal reports whether p, one write to a handed-over connection, is an
// answer net/http wrote by itself to a request it could not read, with its
// status and body length. net/http writes each such answer whole, in one
// write, and closes the connection after it.
func refusal(p []byte) (status int, body int64, ok bool) {
	if expectationFailed(p) {
		return http.StatusExpectationFailed, 0, true
	}
	const proto = "HTTP/1.1 "
	if len(p) < len(proto)+3+len(refusalHeaders) || len(p) > 4<<10 || string(p[:len(proto)]) != proto {
		return 0, 0, false
	}
	i := bytes.Index(p, []byte(refusalHeaders))
	if i < 0 || bytes.IndexByte(p[:i], '\n') >= 0 {
		return 0, 0, false
	}
	status, err := strconv.Atoi(string(p[len(proto) : len(proto)+3]))
	if err != nil || status < 400 || status > 599 {
		return 0, 0, false
	}
	return status, int64(len(p) - i - len(refusalHeaders)), true
}

// expectationFailed reports whether p is the answer net/http writes by
// itself to a request whose Expect header is not 100-continue
// (response.sendExpectationFailed): its only header set is Connection,
// which sorts first; a handler's answer also has X-Amz-Request-Id.
func expectationFailed(p []byte) bool {
	return len(p) < 256 &&
		bytes.HasPrefix(p, []byte("HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nDate: ")) &&
		bytes.HasSuffix(p, []byte("\r\nContent-Length: 0\r\n\r\n")) &&
		bytes.Count(p, []byte("\r\n")) == 5
}

// handedOverKey is the context key of a handed-over connection, in the
// requests net/http reads from it.
type handedOverKey struct{}

// markConns returns a ConnContext hook that notes, in the context of
// each connection net/http serves, the connection handed over under it
// (so markHandled finds it), then calls next, if set.
func (l *Listener) markConns(next func(context.Context, net.Conn) context.Context) func(context.Context, net.Conn) context.Context {
	return func(ctx context.Context, nc net.Conn) context.Context {
		if pc := handedOver(nc); pc != nil {
			ctx = context.WithValue(ctx, handedOverKey{}, pc)
		}
		if next != nil {
			ctx = next(ctx, nc)
		}
		return ctx
	}
}

// markHandled wraps h to mark the connection a request came on as
// answered by a handler: what is written to it until the answer is out
// (ConnState's StateIdle, or the connection closes) is the handler's, never
// one of net/http's own refusals, whatever bytes it holds. A handler's
// body is at times a client's bytes (an object, a build log), which
// net/http writes in pieces of its buffer's size, and a piece may read
// just as a refusal does.
func markHandled(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if pc, ok := r.Context().Value(handedOverKey{}).(*prefixConn); ok {
			pc.handled.Store(true)
		}
		h.ServeHTTP(w, r)
	})
}
