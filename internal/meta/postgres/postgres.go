// Package postgres is the scale-out metadata store: meta.Store on a
// PostgreSQL database, through pgx v5 (pgxpool), for several nixbucket
// servers sharing one store.
//
// # Transactions
//
// Every write method is one SERIALIZABLE transaction, retried from the
// start when PostgreSQL reports a serialization failure, a deadlock or a
// unique violation (another node's transaction created the same row
// first; the retry sees it). Where the SQLite store relies on its single
// writer, this relies on serializable isolation: two nodes racing
// If-None-Match puts of one key, completing one upload, or changing one
// blob's reference count cannot both commit what they read, so exactly one
// wins and the other retries against the winner's result (and its Check
// then fails, or it finds the upload gone). A Check may therefore run
// more than once; it only inspects the current object. Reads are single
// statements where possible, READ COMMITTED, each one consistent.
//
// # Schema
//
// Migrations are embedded .sql files (migrations/NNNN_description.sql),
// recorded in schema_migrations, and applied at Open under a session
// advisory lock (pg_advisory_lock), so servers starting at once apply
// them once, one after the other.
//
// # Change announcements
//
// The generation (meta.Announcer) is a counter in the table generation,
// advanced in the transaction of every announced change, which also sends
// NOTIFY with the new value. Each Store keeps one listener connection
// (LISTEN) and keeps the highest value it heard in memory, so Generation
// costs no round trip. See gen.go for how a change made on one node is
// seen by every node by the time the writing call returns, and what
// happens when the listener connection is lost (Generation then reads
// the table on every call until it is back).
//
// Object writes do not move the generation (that would empty every
// cache on every write). Each one instead names the keys it changed in a
// NOTIFY of its own, which every other Store registered for the bucket
// (one that keeps answers about its objects in memory) logs and
// acknowledges before the write returns (meta.ObjectWatcher; see
// objwatch.go and watchers.go). So servers on this store keep their memo of small
// objects and their filters of absent keys: a server forgets the keys
// others changed before it answers from memory, a narinfo hit in a
// bucket nobody wrote to costs no round trip, and a write acknowledged
// through one node is read through any other at once. While a listener
// is away, its server answers every object read from the database.
//
// Channels and the listeners' application_name are per database, so a
// database holds one nixbucket store: two deployments sharing a database
// in different schemas would hear each other's announcements.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	neturl "net/url"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Store is a meta.Store on one PostgreSQL database.
type Store struct {
	pool  *pgxpool.Pool
	gen   *announcer
	stmts *stmtCounter
	jobs  *jobLocks // see joblock.go

	closeOnce sync.Once
}

var _ meta.Store = (*Store)(nil)

// appName is the application_name of the store's pooled connections.
const appName = "nixbucket"

// Open connects to the database named by url (postgres://… or
// postgresql://…, any libpq connection string pgx accepts), brings its
// schema up to date, and starts listening for change announcements.
func Open(ctx context.Context, url string) (*Store, error) {
	return open(ctx, url, true)
}

func open(ctx context.Context, url string, upgrade bool) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open metadata: parse PostgreSQL URL: %w", err)
	}
	where := Redact(url)
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = appName
	}
	stmts := &stmtCounter{}
	cfg.ConnConfig.Tracer = tracer{stmts} // counts, and bounds request steps (stalls.go)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open metadata %s: %w", where, err)
	}
	if err := checkServer(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open metadata %s: %w", where, withHint(err, &cfg.ConnConfig.Config))
	}
	if err := migrate(ctx, pool, upgrade); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open metadata %s: %w", where, withHint(err, &cfg.ConnConfig.Config))
	}
	s := &Store{pool: pool, stmts: stmts, jobs: &jobLocks{pool: pool}}
	s.gen = newAnnouncer(pool, cfg.ConnConfig)
	if err := s.gen.start(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open metadata %s: %w", where, err)
	}
	return s, nil
}

// checkServer refuses a database whose text cannot hold every S3 key.
func checkServer(ctx context.Context, pool *pgxpool.Pool) error {
	var enc string
	if err := pool.QueryRow(ctx, `SHOW server_encoding`).Scan(&enc); err != nil {
		return fmt.Errorf("read server_encoding: %w", err)
	}
	if enc != "UTF8" {
		return fmt.Errorf("database encoding is %s, want UTF8 (CREATE DATABASE … ENCODING 'UTF8' TEMPLATE template0)", enc)
	}
	return nil
}

// Close stops the listener and closes every connection.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.jobs.close()
		s.gen.stop()
		s.pool.Close()
	})
	return nil
}

// maxAttempts bounds the runs of one write transaction.
const maxAttempts = 100

// retryable reports whether a transaction failed only because another
// committed a conflicting change first: running it again may succeed.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "40001", // serialization_failure
		"40P01", // deadlock_detected
		"23505": // unique_violation: a concurrent insert won
		return true
	}
	return false
}

var serializable = pgx.TxOptions{IsoLevel: pgx.Serializable}

// write runs fn in a serializable transaction, retried while it conflicts
// with others; fn's own errors are returned unchanged. fn must set its
// results afresh on every run.
func (s *Store) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	_, err := s.run(ctx, false, fn)
	return err
}

// writeAnnounced is write for a change the generation announces (see
// meta.Announcer): the transaction advances the generation and notifies
// every listener, and the call returns once every live instance heard it.
func (s *Store) writeAnnounced(ctx context.Context, fn func(tx pgx.Tx) error) error {
	g, err := s.run(ctx, true, fn)
	if err != nil {
		return err
	}
	s.gen.announced(ctx, g)
	return nil
}

func (s *Store) run(ctx context.Context, announce bool, fn func(tx pgx.Tx) error) (uint64, error) {
	for attempt := 1; ; attempt++ {
		g, err := s.once(ctx, announce, fn)
		if err == nil || !retryable(err) || attempt == maxAttempts {
			return g, err
		}
		if backoff(ctx, attempt) != nil {
			return 0, err
		}
	}
}

// once runs fn in one serializable transaction. A COMMIT PostgreSQL did
// not answer (the connection lost, a request's bound: see tracer) leaves
// the outcome unknown (committing): the caller must not discard what the
// write would have referred to.
func (s *Store) once(ctx context.Context, announce bool, fn func(tx pgx.Tx) error) (uint64, error) {
	tx, err := s.pool.BeginTx(ctx, serializable)
	if err != nil {
		return 0, err
	}
	// Ends the transaction on a failure (or a panic); a no-op after
	// Commit. A connection a failure closed rolled back already.
	defer tx.Rollback(ctx)
	var g uint64
	if err = fn(tx); err == nil && announce {
		g, err = advance(ctx, tx)
	}
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, committing(err)
	}
	return g, nil
}

// querier is what reads need: the pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// exists runs a SELECT EXISTS query.
func exists(ctx context.Context, q querier, sql string, args ...any) (bool, error) {
	var ok bool
	if err := q.QueryRow(ctx, sql, args...).Scan(&ok); err != nil {
		return false, err
	}
	return ok, nil
}

// micros converts t for storage, in Unix microseconds. The zero time is
// stored as 0 (and so the Unix epoch itself reads back as the zero time).
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros converts a stored time back to a UTC time.Time.
func fromMicros(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}

// policyValue binds a policy document: NULL for none (nil or empty).
func policyValue(p []byte) any {
	if len(p) == 0 {
		return nil
	}
	return p
}

// rootUser is the server's administrator: it has access keys but no users
// row, and so no tokens and no policy.
const rootUser = "root"

// OpenExisting is Open for a database nixbucket has used before (the
// admin commands): an error wrapping fs.ErrNotExist for one without the
// store's schema, and a *migration.OlderError for one of an older schema,
// which it leaves untouched: upgrading a database the servers share is for
// a server's start, not for an admin command run by a newer binary while
// servers of the older version still run on it.
func OpenExisting(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open metadata: parse PostgreSQL URL: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open metadata %s: %w", Redact(url), err)
	}
	var found bool
	err = conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&found)
	conn.Close(context.Background())
	if err != nil {
		return nil, fmt.Errorf("open metadata %s: %w", Redact(url), err)
	}
	if !found {
		return nil, fmt.Errorf("metadata store %s: no nixbucket schema: %w", Redact(url), fs.ErrNotExist)
	}
	return open(ctx, url, false)
}

// Redact returns a PostgreSQL URL without its password, for messages.
func Redact(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "(unparsable PostgreSQL URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = neturl.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
