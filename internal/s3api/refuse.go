package s3api

import (
	"io"
	"net/http"
	"strings"

	"github.com/nixbucket/nixbucket/internal/objects"
)

// maxRefusedBody bounds what refuseBody reads and throws away: the largest
// body a client may send in one PUT or part, with room for aws-chunked
// framing.
const maxRefusedBody = objects.MaxPutSize + 64<<20

// refuseBody settles the body of a request about to be refused for want
// of space, so that the client reads the 507 rather than a reset. A client
// that asked "Expect: 100-continue" and was not yet read from has not sent
// its body and never will: net/http answers instead of sending 100
// Continue and closes the connection after. Any other client is sending
// the body, or has sent part of it; closing the socket while it does
// makes the kernel reset the connection, often before the client has
// read the answer. So the rest is read and discarded (nothing touches the
// disk), up to maxRefusedBody, past which the connection is closed.
func refuseBody(q *request) {
	b, ok := q.Body.(*idleReader)
	if !ok {
		return // no body
	}
	if !b.started && expectsContinue(q.Request) {
		return
	}
	if n, _ := io.CopyN(io.Discard, b, maxRefusedBody); n == maxRefusedBody {
		q.w.Header().Set("Connection", "close")
	}
}

// expectsContinue reports whether the client waits for "100 Continue"
// before it sends the body.
func expectsContinue(r *http.Request) bool {
	for _, v := range r.Header["Expect"] {
		if strings.EqualFold(strings.TrimSpace(v), "100-continue") {
			return true
		}
	}
	return false
}
