// Package stall bounds how long a request waits on a backend (the
// metadata store, the blob store) that makes no progress: paused,
// partitioned, or holding a lock. A request's context carries the bound
// (WithBound, set once on the server's base context, so it costs nothing
// per request); each backend applies it to one step at a time (a
// statement, a wait for an answer, a wait for the next bytes), never to a
// whole request, so a 5 GiB body streams from a slow but live store. A
// context without a bound (background jobs: GC, lifecycle, sweeps, the
// change listener) waits as long as the backend takes.
package stall

import (
	"context"
	"errors"
	"time"
)

// ErrNoProgress marks a backend's failure to make progress within a
// request's bound, where the error would otherwise only say that a
// context ended (which, from the client's side, means it timed out).
var ErrNoProgress = errors.New("no progress within the request's bound")

type boundKey struct{}

// WithBound returns ctx carrying the bound d; d <= 0 removes it.
func WithBound(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, boundKey{}, max(d, 0))
}

// Bound is the bound ctx carries, or 0 when it carries none (wait as long
// as it takes).
func Bound(ctx context.Context) time.Duration {
	d, _ := ctx.Value(boundKey{}).(time.Duration)
	return d
}
