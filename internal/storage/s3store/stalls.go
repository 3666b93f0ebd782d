package s3store

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/nixbucket/nixbucket/internal/stall"
)

// stallClient bounds each wait of a request to the store whose context
// carries a bound (stall.Bound: the server's requests), so that a store
// that stopped answering without closing its connections (paused,
// partitioned) fails the request (errNoAnswer: Unreachable, a 503) rather
// than holding it as long as the pause. What is bounded is the store's
// lack of progress, not a request's length: the clock runs while the
// request goes out and its answer is awaited, and while a read of the
// answer's body waits on the store; it stops while the request's body is
// read from its source (the client uploading, however slowly) and between
// reads of the answer's body (the client downloading). So a 5 GiB body
// streams from a slow but live store. Requests without a bound (the
// background sweeps) wait as the SDK and the transport let them.
type stallClient struct{ next aws.HTTPClient }

func (c stallClient) Do(req *http.Request) (*http.Response, error) {
	d := stall.Bound(req.Context())
	if d <= 0 {
		return c.next.Do(req)
	}
	ctx, cancel := context.WithCancel(req.Context())
	w := &watch{d: d, sending: true}
	w.t = time.AfterFunc(d, func() {
		w.mu.Lock()
		w.fired = true
		w.mu.Unlock()
		cancel()
	})
	out := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		out.Body = &watchedBody{w: w, r: req.Body}
		if req.GetBody != nil {
			out.GetBody = func() (io.ReadCloser, error) {
				b, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				return &watchedBody{w: w, r: b}, nil
			}
		}
	}
	resp, err := c.next.Do(out)
	w.mu.Lock()
	w.sending = false
	w.t.Stop()
	w.mu.Unlock()
	if err != nil {
		cancel()
		return nil, w.failed(err)
	}
	resp.Body = &watchedAnswer{w: w, r: resp.Body, cancel: cancel}
	return resp, nil
}

// completeBound is how long a request may wait on the store's answer to a
// CompleteMultipartUpload: the store assembles the parts before it
// answers (versitygw copies them, AWS may take minutes and sends spaces
// meanwhile), so its silence is work, not a stall, for far longer than a
// statement's or a part's.
const completeBound = 10 * time.Minute

// completing returns ctx for a CompleteMultipartUpload: its request's
// bound, when it has one, raised to completeBound.
func completing(ctx context.Context) context.Context {
	if d := stall.Bound(ctx); d > 0 && d < completeBound {
		return stall.WithBound(ctx, completeBound)
	}
	return ctx
}

// watch is the clock of one request.
type watch struct {
	d  time.Duration
	t  *time.Timer
	mu sync.Mutex
	// sending: the request is still going out, and reads of its body
	// stop the clock (the wait is the source's) and restart it.
	sending bool
	fired   bool
}

// set starts (on) or stops the clock.
func (w *watch) set(on bool) {
	if on {
		w.t.Reset(w.d)
	} else {
		w.t.Stop()
	}
}

// failed wraps err, when the clock ran out, as the store's lack of answer.
func (w *watch) failed(err error) error {
	w.mu.Lock()
	fired := w.fired
	w.mu.Unlock()
	if !fired {
		return err
	}
	return &stalledError{fmt.Errorf("%w: %w: nothing from the store for %s: %w", errNoAnswer, stall.ErrNoProgress, w.d, err)}
}

// stalledError is a request cut for the store's lack of progress. The
// SDK does not retry it (RetryableError): another attempt would wait as
// long again, and a streamed body cannot be sent twice anyway, which
// would make the retry's error hide this one; the client retries the 503.
type stalledError struct{ err error }

func (e *stalledError) Error() string        { return e.err.Error() }
func (e *stalledError) Unwrap() error        { return e.err }
func (e *stalledError) RetryableError() bool { return false }

// watchedBody is a request's body: the clock stops while it is read.
type watchedBody struct {
	w *watch
	r io.ReadCloser
}

func (b *watchedBody) Read(p []byte) (int, error) {
	b.sendingSet(false)
	n, err := b.r.Read(p)
	b.sendingSet(true)
	return n, err
}

func (b *watchedBody) sendingSet(on bool) {
	b.w.mu.Lock()
	if b.w.sending && !b.w.fired {
		b.w.set(on)
	}
	b.w.mu.Unlock()
}

func (b *watchedBody) Close() error { return b.r.Close() }

// watchedAnswer is an answer's body: the clock runs while it is read.
type watchedAnswer struct {
	w      *watch
	r      io.ReadCloser
	cancel context.CancelFunc
}

func (a *watchedAnswer) Read(p []byte) (int, error) {
	a.w.set(true)
	n, err := a.r.Read(p)
	a.w.set(false)
	if err != nil && err != io.EOF {
		err = a.w.failed(err)
	}
	return n, err
}

func (a *watchedAnswer) Close() error {
	a.w.set(false)
	err := a.r.Close()
	a.cancel()
	return err
}
