package postgres

import (
	"context"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// Statements returns how many statements the Store sent to PostgreSQL for
// its callers since it opened (each one a round trip: queries, and the
// BEGIN and COMMIT of transactions), leaving out its own background
// traffic (the change listener's acknowledgements and pings). Tests and
// bench/scale.sh use it to show that a cached read costs no round trip.
func (s *Store) Statements() uint64 { return s.stmts.n.Load() }

// stmtCounter is a pgx tracer that counts statements.
type stmtCounter struct{ n atomic.Uint64 }

type uncountedKey struct{}

// uncounted marks ctx's statements as the Store's own background traffic.
func uncounted(ctx context.Context) context.Context {
	return context.WithValue(ctx, uncountedKey{}, true)
}

func (c *stmtCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	if ctx.Value(uncountedKey{}) == nil {
		c.n.Add(1)
	}
	return ctx
}

func (c *stmtCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
