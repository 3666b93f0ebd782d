package s3api

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/objects"
)

// maxRefusedBody bounds what refuseFull reads and throws away: the largest
// body a client may send in one PUT or part, with room for aws-chunked
// framing.
const maxRefusedBody = objects.MaxPutSize + 64<<20

// unaskedIdle is how long refuseFull waits for the body of a client that
// asked "Expect: 100-continue", in case it sends it all the same.
const unaskedIdle = 2 * time.Second

// refuseFull answers a write refused for want of space with 507, so that
// the client reads the answer rather than a reset.
//
// The answer is written whole (with its Content-Length) and flushed first,
// with the connection in full-duplex mode so that net/http leaves the
// request body alone. A client that asked "Expect: 100-continue" then has
// its answer without sending the body, since no 100 Continue goes out once
// the answer has. Any other client is sending the body, or has sent part
// of it: closing the socket while it does makes the kernel reset the
// connection, often before the client has read the answer. So the rest of
// the body is read and discarded (nothing touches the disk), up to
// maxRefusedBody; from a client that asked first, only for as long as it
// keeps sending. net/http closes the connection if any of it is left.
func (h *Handler) refuseFull(q *request, e *Error) {
	const status = http.StatusInsufficientStorage
	var buf bytes.Buffer
	hdr := q.w.Header()
	if q.plain {
		hdr["Content-Type"] = plainText
		hdr["X-Nixbucket-Error"] = []string{e.Code}
		buf.WriteString(strconv.Itoa(status) + " " + e.Code + ": " + e.Message + "\n")
	} else {
		hdr.Set("Content-Type", "application/xml")
		buf.WriteString(xml.Header)
		xml.NewEncoder(&buf).Encode(errorBody{
			Code: e.Code, Message: e.Message, Resource: q.URL.Path,
			RequestID: hdr.Get("x-amz-request-id"), HostID: hdr.Get("x-amz-id-2"),
		})
	}
	body, hasBody := q.Body.(*idleReader)
	rc := http.NewResponseController(q.w)
	if hasBody {
		rc.EnableFullDuplex()
	}
	if q.Method == http.MethodHead {
		q.w.WriteHeader(status)
		return
	}
	hdr.Set("Content-Length", strconv.Itoa(buf.Len()))
	q.w.WriteHeader(status)
	q.w.Write(buf.Bytes())
	rc.Flush()
	if !hasBody {
		return
	}
	if body.started || !expectsContinue(q.Request) {
		io.CopyN(io.Discard, body, maxRefusedBody)
		return
	}
	// Not asked for: take what comes while it comes.
	defer rc.SetReadDeadline(time.Time{})
	for left := int64(maxRefusedBody); left > 0; {
		rc.SetReadDeadline(time.Now().Add(unaskedIdle))
		n, err := io.CopyN(io.Discard, body.r, min(left, 1<<20))
		left -= n
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) {
				h.log().Debug("discarding a refused body", "err", err)
			}
			return
		}
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
