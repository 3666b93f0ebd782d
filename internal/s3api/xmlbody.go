package s3api

import (
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// xmlBodyTime bounds the time to read a request's XML body whole. The
// sliding idle deadline alone lets a client trickle a byte a minute into a
// buffer of up to maxXMLBody for hours; this is about 70 KB/s for the
// largest body, far below any real client's rate.
const xmlBodyTime = time.Minute

// timedBody reads r until end, after which Read fails with
// os.ErrDeadlineExceeded (RequestTimeout); a Read blocked at end is
// interrupted through the connection's read deadline.
type timedBody struct {
	r   io.Reader
	end time.Time

	mu    sync.Mutex
	done  bool
	timer *time.Timer
	rc    *http.ResponseController
}

func newTimedBody(w http.ResponseWriter, r io.Reader, d time.Duration) *timedBody {
	b := &timedBody{r: r, end: time.Now().Add(d), rc: http.NewResponseController(w)}
	b.timer = time.AfterFunc(d, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if !b.done {
			b.rc.SetReadDeadline(time.Now())
		}
	})
	return b
}

func (b *timedBody) Read(p []byte) (int, error) {
	if !time.Now().Before(b.end) {
		return 0, os.ErrDeadlineExceeded
	}
	return b.r.Read(p)
}

// stop ends the time limit once the body has been read. If the limit
// fired meanwhile, the read deadline it set is cleared, so it cannot
// cancel the request's context later (net/http reads ahead in the
// background once a body is done).
func (b *timedBody) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	if !b.timer.Stop() {
		b.rc.SetReadDeadline(time.Time{})
	}
}
