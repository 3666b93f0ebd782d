package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nixbucket/nixbucket/internal/stall"
)

// tracer is the pool's pgx tracer. Besides counting statements
// (stmtCounter), it bounds each step of a request on a PostgreSQL that
// stopped answering without closing its connections (paused, partitioned):
// when the context carries a bound (stall.Bound, the server's request
// contexts), the wait for a pooled connection, a new connection's start,
// and each statement or batch get a deadline that far ahead, so a request
// fails (Unreachable: a pgconn timeout, or errAcquire; a 503) instead of
// waiting as long as the pause. The bound is per step, not per request or
// transaction; background work (GC, lifecycle, sweeps, the listener and
// job locks) carries none and waits as long as PostgreSQL takes.
//
// pgx runs each step on the context its Trace…Start returns and hands the
// same context to Trace…End, which releases the deadline's timer. A
// statement that times out leaves its connection closed by pgx (its state
// is unknown), and the pool opens another once PostgreSQL answers again.
// A batch holding COMMIT that times out leaves its write's outcome
// unknown (committing): PostgreSQL commits all of it or nothing.
type tracer struct{ *stmtCounter }

var (
	_ pgx.QueryTracer       = tracer{}
	_ pgx.BatchTracer       = tracer{}
	_ pgx.ConnectTracer     = tracer{}
	_ pgx.PrepareTracer     = tracer{}
	_ pgx.CopyFromTracer    = tracer{}
	_ pgxpool.AcquireTracer = tracer{}
)

type releaseKey struct{}

// bounded returns ctx with a deadline of its stall.Bound, if any, and the
// means to release it (release).
func bounded(ctx context.Context) context.Context {
	d := stall.Bound(ctx)
	if d <= 0 {
		return ctx
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	return context.WithValue(ctx, releaseKey{}, cancel)
}

// release ends the deadline bounded gave ctx.
func release(ctx context.Context) {
	if cancel, ok := ctx.Value(releaseKey{}).(context.CancelFunc); ok {
		cancel()
	}
}

func (t tracer) TraceQueryStart(ctx context.Context, c *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return bounded(t.stmtCounter.TraceQueryStart(ctx, c, d))
}

func (tracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	release(ctx)
}

func (tracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return bounded(ctx)
}

func (tracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (tracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	release(ctx)
}

func (tracer) TraceConnectStart(ctx context.Context, _ pgx.TraceConnectStartData) context.Context {
	return bounded(ctx)
}

func (tracer) TraceConnectEnd(ctx context.Context, _ pgx.TraceConnectEndData) { release(ctx) }

func (tracer) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	return bounded(ctx)
}

func (tracer) TracePrepareEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareEndData) {
	release(ctx)
}

func (tracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	return bounded(ctx)
}

func (tracer) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromEndData) {
	release(ctx)
}

func (tracer) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	if stall.Bound(ctx) <= 0 {
		return ctx
	}
	return acquireContext{bounded(ctx)}
}

// errAcquire is the error of a wait for a pooled connection past the
// request's bound. pgxpool returns its context's error as it is, which
// would say no more than that a context ended.
var errAcquire = fmt.Errorf("no PostgreSQL connection came free: %w: %w", stall.ErrNoProgress, context.DeadlineExceeded)

// acquireContext is the context of a bounded Acquire: its deadline's
// error is errAcquire.
type acquireContext struct{ context.Context }

func (c acquireContext) Err() error {
	err := c.Context.Err()
	if err == context.DeadlineExceeded {
		return errAcquire
	}
	return err
}

func (tracer) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireEndData) {
	release(ctx)
}
