package s3api

import (
	"io"
	"net/http"
	"time"
)

// Request bounds. Bodies may be gigabytes, so instead of one deadline for
// the whole request the read deadline slides: a client that sends nothing
// for bodyIdle is cut off. Responses need nothing here: the transport
// (internal/fastlane, for net/http too) slides each connection's write
// deadline with the progress of its writes (and each HTTP/2 stream's), so
// a client that stops reading is cut off however big the response, and a
// slow one is not.
const bodyIdle = 2 * time.Minute

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

// BodyIdle is how long a request body may send nothing before the
// connection is cut off.
const BodyIdle = bodyIdle

// BoundRequest returns a shallow copy of r whose body has the sliding
// read deadline. r itself keeps its body: net/http answers
// "Expect: 100-continue" only when it sees its own body reader unread, so
// a request refused before its body is read gets its answer at once. The
// S3 handler bounds its requests itself; the server bounds the others
// (the console's forms, the pins API) with it.
func BoundRequest(w http.ResponseWriter, r *http.Request) *http.Request {
	if r.Body == nil || r.Body == http.NoBody {
		return r
	}
	r2 := *r
	r2.Body = &idleReader{r: r.Body, rc: http.NewResponseController(w)}
	return &r2
}
