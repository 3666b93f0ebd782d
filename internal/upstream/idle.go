package upstream

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// idleBody cuts a response body that stalls: each Read must return within
// idle of the previous one, or the request's context is canceled, which
// makes the pending Read fail. It turns that failure into an error
// matching ErrUnavailable.
type idleBody struct {
	body   io.ReadCloser
	src    string
	idle   time.Duration
	cancel context.CancelFunc
	timer  *time.Timer

	mu    sync.Mutex
	fired bool
}

// newIdleBody wraps body; cancel must cancel the request that body
// belongs to. Close calls cancel too.
func newIdleBody(body io.ReadCloser, src string, idle time.Duration, cancel context.CancelFunc) *idleBody {
	b := &idleBody{body: body, src: src, idle: idle, cancel: cancel}
	b.timer = time.AfterFunc(idle, b.fire)
	return b
}

func (b *idleBody) fire() {
	b.mu.Lock()
	b.fired = true
	b.mu.Unlock()
	b.cancel()
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	if err != nil && err != io.EOF {
		b.mu.Lock()
		fired := b.fired
		b.mu.Unlock()
		if fired {
			return n, unavailable(b.src, fmt.Errorf("body stalled for more than %s", b.idle))
		}
		return n, unavailable(b.src, fmt.Errorf("reading body: %w", err))
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	err := b.body.Close()
	b.cancel()
	return err
}
