package fastlane

import (
	"bytes"
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
