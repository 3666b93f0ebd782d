package fastlane

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// reqCtx is a request's context: the connection's, plus a cancellation of
// its own, as context.WithCancel(connection's) would give. WithCancel
// registers the child with its parent and allocates a channel on every
// request; most narinfo requests never look at their context's Done, so
// reqCtx makes that real cancellable context only when a handler asks for
// Done, derives a context (through AfterFunc or Done) or asks for the
// cause of a cancellation. It lives in the request's reqMem, allocated with
// the request.
type reqCtx struct {
	parent    context.Context
	cancelled atomic.Bool
	live      atomic.Pointer[liveCtx]
	mu        sync.Mutex // makes live once
	// offer is the handler's offer of its answer (Offer, encore.go), and
	// conn the connection serving the request, for Wanted.
	offerID string
	offer   Encore
	conn    *conn
}

// liveCtx is the real cancellable context once one is needed.
type liveCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// makeLive returns the real context, making it on first use; a request
// already cancelled gets one cancelled at once.
func (c *reqCtx) makeLive() *liveCtx {
	if l := c.live.Load(); l != nil {
		return l
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.live.Load(); l != nil {
		return l
	}
	ctx, cancel := context.WithCancel(c.parent)
	l := &liveCtx{ctx, cancel}
	c.live.Store(l)
	if c.cancelled.Load() {
		cancel()
	}
	return l
}

// cancel cancels the request, as the CancelFunc of WithCancel does.
func (c *reqCtx) cancel() {
	c.mu.Lock()
	c.cancelled.Store(true)
	l := c.live.Load()
	c.mu.Unlock()
	if l != nil {
		l.cancel()
	}
}

// Deadline is the connection's: a cancellation sets none.
func (c *reqCtx) Deadline() (time.Time, bool) { return c.parent.Deadline() }

// Done makes the real context: a caller may wait on its channel.
func (c *reqCtx) Done() <-chan struct{} { return c.makeLive().ctx.Done() }

// Err answers without making the real context when none is needed.
func (c *reqCtx) Err() error {
	if l := c.live.Load(); l != nil {
		return l.ctx.Err()
	}
	if c.cancelled.Load() {
		return context.Canceled
	}
	return c.parent.Err()
}

// Value asks the real context once there is one, so that the context
// package finds its cancelCtx (for Cause and for deriving children) and
// not the connection's; a cancelled request makes it, for Cause.
func (c *reqCtx) Value(key any) any {
	if _, ok := key.(offerKey); ok {
		return c
	}
	l := c.live.Load()
	if l == nil && c.cancelled.Load() {
		l = c.makeLive()
	}
	if l != nil {
		return l.ctx.Value(key)
	}
	return c.parent.Value(key)
}

// AfterFunc lets context.AfterFunc and contexts derived from this one hang
// on the real context rather than on a goroutine of their own each.
func (c *reqCtx) AfterFunc(f func()) (stop func() bool) {
	return context.AfterFunc(c.makeLive().ctx, f)
}

// String names it as WithCancel's would be named.
func (c *reqCtx) String() string { return "fastlane.request(" + contextName(c.parent) + ")" }

func contextName(c context.Context) string {
	if s, ok := c.(interface{ String() string }); ok {
		return s.String()
	}
	return "context"
}
