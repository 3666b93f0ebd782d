package s3api

import (
	"io"
	"net/http"
	"time"
)

// Request bounds. Bodies may be gigabytes, so instead of one deadline for
// the whole request the read deadline slides: a client that sends nothing
// for bodyIdle is cut off. Responses get a write deadline that grows with
// the size sent, at a floor rate of minRate.
const (
	bodyIdle   = 2 * time.Minute
	writeGrace = 2 * time.Minute
	minRate    = 64 << 10 // bytes per second
)

// idleReader extends the connection's read deadline before each read.
type idleReader struct {
	r       io.ReadCloser
	rc      *http.ResponseController
	started bool // Read was called: any "100 Continue" has been sent
}

func (b *idleReader) Read(p []byte) (int, error) {
	b.started = true
	b.rc.SetReadDeadline(time.Now().Add(bodyIdle))
	n, err := b.r.Read(p)
	if err != nil {
		// net/http reads in the background once the body is done, and a
		// deadline firing then would cancel the request's context.
		b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (b *idleReader) Close() error { return b.r.Close() }

// boundRequest returns a shallow copy of r whose body has the sliding
// read deadline, and clears a write deadline an earlier response on the
// connection may have left. r itself keeps its body: net/http answers
// "Expect: 100-continue" only when it sees its own body reader unread, so
// a request refused before its body is read gets its answer at once.
func boundRequest(w http.ResponseWriter, r *http.Request) *http.Request {
	if r.Body == nil || r.Body == http.NoBody {
		// The common case, without a ResponseController to allocate.
		if d, ok := w.(writeDeadliner); ok {
			d.SetWriteDeadline(time.Time{})
			return r
		}
	}
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{})
	if r.Body == nil || r.Body == http.NoBody {
		return r
	}
	r2 := *r
	r2.Body = &idleReader{r: r.Body, rc: rc}
	return &r2
}

// writeDeadliner is what ResponseController looks for first.
type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// boundWrite sets a write deadline fitting a response of size bytes.
func boundWrite(w http.ResponseWriter, size int64) {
	d := writeGrace + time.Duration(size/minRate)*time.Second
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(d))
}
