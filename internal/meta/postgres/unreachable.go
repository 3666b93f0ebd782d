package postgres

import (
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/nixbucket/nixbucket/internal/stall"
)

// Unreachable reports whether err says the database could not be reached
// or went away: no connection (refused, reset, the server shutting down or
// starting up), or no answer within a request's bound (stall.Bound; see
// tracer), as opposed to a refusal of the request itself. The server
// answers those 503 instead of a bare internal error, so that a client
// knows to retry and an operator what failed.
func (s *Store) Unreachable(err error) bool { return unreachable(err) }

func unreachable(err error) bool {
	// No answer in time: a request's bound (tracer), or a commit's.
	if pgconn.Timeout(err) || errors.Is(err, stall.ErrNoProgress) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 08: connection exception; 57P01-57P03: admin or crash
		// shutdown, cannot connect now; 53300: too many connections.
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P") || pe.Code == "53300"
	}
	if pgconn.SafeToRetry(err) {
		return true
	}
	// A connection lost in the middle of a query.
	var oe *net.OpError
	return errors.As(err, &oe) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}
