// Package sqlite is the embedded metadata store: meta.Store on one SQLite
// database file (modernc.org/sqlite, pure Go).
//
// The database runs in WAL mode with synchronous=FULL, so a method that
// returned nil is durable across power loss. All writes go through one
// connection, driven by one goroutine that commits concurrent write
// requests together (group commit, see commit.go): SQLite admits one
// writer at a time anyway, and one fsync for many requests is what makes
// concurrent writers fast. Reads use a separate pool of query-only
// connections and never wait for the writer.
//
// Other processes may use the database at the same time: the CLI edits
// users while the server runs. SQLite's file locks serialise their writes
// with ours (a writer waits up to busyTimeout for another's transaction),
// and a counter file shared between the processes tells caches of
// identity data when to reload; see gen.go and Generation.
//
// Check callbacks run on the committing goroutine, inside the write
// transaction; they must not call the Store's write methods.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"

	driver "modernc.org/sqlite" // also registers the "sqlite" driver
)

// busyTimeout is how long a connection waits for a lock held by another
// process (the CLI's write transaction, another's WAL recovery) before
// failing with SQLITE_BUSY. A variable for tests.
var busyTimeout = 10 * time.Second

// Store is a meta.Store backed by one SQLite database.
type Store struct {
	w *pool // one connection; every write transaction
	r *pool // query-only connections; every read

	queue   chan *writeReq // to the committer; unbuffered
	closing chan struct{}  // closed by Close: the committer stops
	stopped chan struct{}  // closed by the committer when it has stopped
	commits atomic.Int64   // transactions committed, for tests
	batches atomic.Int64   // batches taken up by the committer, for tests

	gen atomic.Pointer[genCounter] // nil once closed

	jobs jobLocks // see joblock.go

	closeOnce sync.Once
	closeErr  error
}

var _ meta.Store = (*Store)(nil)

// Open opens the database at path, creating it if needed, and brings its
// schema up to date.
func Open(path string) (*Store, error) {
	return open(path, true)
}

// OpenCurrent is Open for a database that must already have the current
// schema (the admin commands): it refuses one of an older schema with a
// *migration.OlderError, changing nothing, rather than upgrade it behind
// the back of a server of the older version still running on it.
func OpenCurrent(path string) (*Store, error) {
	return open(path, false)
}

func open(path string, upgrade bool) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open metadata %s: %w", path, err)
	}
	// The default VFS, with SQLite's normal locking, so that the CLI can
	// work on the database while the server runs. (The unix-excl VFS, which
	// keeps the WAL index in process memory, spares each read transaction
	// the two fcntl calls that lock and unlock its WAL read mark, about
	// 2 µs of an 8 µs Object call on a 2-core VM, but locks out every other
	// process.) The writer begins its transactions IMMEDIATE: it takes the
	// write lock at BEGIN, waiting up to busyTimeout for another process's
	// transaction, and never fails later on a snapshot that another
	// process's commit made stale.
	if err := secureFiles(abs); err != nil {
		return nil, fmt.Errorf("open metadata %s: %w", abs, err)
	}
	wdb, err := sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		return nil, fmt.Errorf("open metadata %s: %w", abs, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)

	ctx := context.Background()
	if err := checkWriter(ctx, wdb); err != nil {
		wdb.Close()
		if isBusy(err) {
			return nil, fmt.Errorf("open metadata %s: %w (does another process hold it locked?)", abs, err)
		}
		return nil, fmt.Errorf("open metadata %s: %w", abs, err)
	}
	if err := keepWAL(ctx, wdb); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open metadata %s: %w", abs, err)
	}
	if err := migrate(ctx, wdb, upgrade); err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open metadata %s: %w", abs, err)
	}
	gen, err := openGen(abs)
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open metadata %s: %w", abs, err)
	}

	rdb, err := sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open metadata %s: %w", abs, err)
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	rdb.SetMaxOpenConns(n)
	rdb.SetMaxIdleConns(n) // keep connections, and their prepared statements
	rdb.SetConnMaxLifetime(0)
	rdb.SetConnMaxIdleTime(0)

	s := &Store{
		queue:   make(chan *writeReq),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
		jobs:    jobLocks{db: abs},
	}
	s.gen.Store(gen)
	if s.w, err = newPool(ctx, wdb); err != nil {
		wdb.Close()
		rdb.Close()
		return nil, fmt.Errorf("open metadata %s: %w", abs, err)
	}
	if s.r, err = newPool(ctx, rdb); err != nil {
		s.w.close()
		rdb.Close()
		return nil, fmt.Errorf("open metadata %s: %w", abs, err)
	}
	go s.commitLoop()
	return s, nil
}

// dsn is the one place the driver's connection string is built: a file:
// URI of the absolute path abs, so that '?', '#' and '%' in the path are
// escaped rather than taken as the start of the driver's parameters, and
// the pragmas every connection runs with. The writer's connection also
// begins IMMEDIATE transactions and sets the journal and sync modes the
// durability promise rests on; readers are query-only.
func dsn(abs string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	if writer {
		q.Set("_txlock", "immediate")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
	} else {
		q.Set("_query_only", "1")
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}
	return u.String()
}

// checkWriter verifies that the pragmas the durability promise rests on
// took effect: SQLite silently keeps the old journal mode when it cannot
// switch (for example without shared memory support).
func checkWriter(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal_mode: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	var sync int
	if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		return fmt.Errorf("read synchronous: %w", err)
	}
	if sync != 2 {
		return fmt.Errorf("synchronous is %d, want 2 (FULL)", sync)
	}
	return nil
}

// Unreachable reports whether err says the database could not be used
// for now: locked by another process past busyTimeout (SQLITE_BUSY), or a
// write's wait for the writer past its request's bound (errLocked). The
// server answers those 503 naming the metadata store, as it does for an
// unreachable PostgreSQL.
func (s *Store) Unreachable(err error) bool {
	return isBusy(err) || errors.Is(err, errLocked)
}

// isBusy reports whether err is SQLite's SQLITE_BUSY, "database is locked".
func isBusy(err error) bool {
	const sqliteBusy = 5 // primary result code, the low byte of extended ones
	var e *driver.Error
	return errors.As(err, &e) && e.Code()&0xff == sqliteBusy
}

// Close stops the committer, after the batch in progress, and closes both
// connection pools. Writes not yet taken up fail with errClosed. The writer
// closes last, so that it checkpoints the WAL into the main database file
// (unless another process still has it open). The generation counter is
// unmapped once no Generation call can still be reading it.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.jobs.close()
		close(s.closing)
		<-s.stopped
		s.gen.Store(nil)
		s.closeErr = errors.Join(s.r.close(), s.w.close())
	})
	return s.closeErr
}

// pool is a connection pool with every query of the package prepared on it.
type pool struct {
	db    *sql.DB
	stmts map[string]*sql.Stmt
}

// queries lists every statement the package runs; see query.
var queries []string

// query registers q for preparation at Open and returns it. Package-level
// query constants are declared with it, so pool.stmt can find them.
func query(q string) string {
	queries = append(queries, q)
	return q
}

func newPool(ctx context.Context, db *sql.DB) (*pool, error) {
	p := &pool{db: db, stmts: make(map[string]*sql.Stmt, len(queries))}
	for _, q := range queries {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		p.stmts[q] = st
	}
	return p, nil
}

// stmt returns the prepared statement for q, which must have been
// registered with query.
func (p *pool) stmt(q string) *sql.Stmt {
	st, ok := p.stmts[q]
	if !ok {
		panic("sqlite: unregistered query: " + q)
	}
	return st
}

func (p *pool) close() error {
	var errs []error
	for _, st := range p.stmts {
		errs = append(errs, st.Close())
	}
	errs = append(errs, p.db.Close())
	return errors.Join(errs...)
}

// txn is a transaction that runs the pool's prepared statements.
type txn struct {
	ctx   context.Context
	tx    *sql.Tx
	p     *pool
	stmts map[string]*sql.Stmt // the pool's statements bound to tx
}

// stmt returns the prepared statement for q bound to the transaction.
func (t *txn) stmt(q string) *sql.Stmt {
	st, ok := t.stmts[q]
	if !ok {
		if t.stmts == nil {
			t.stmts = make(map[string]*sql.Stmt)
		}
		st = t.tx.StmtContext(t.ctx, t.p.stmt(q))
		t.stmts[q] = st
	}
	return st
}

func (t *txn) query(q string, args ...any) (*sql.Rows, error) {
	return t.stmt(q).QueryContext(t.ctx, args...)
}

func (t *txn) queryRow(q string, args ...any) *sql.Row {
	return t.stmt(q).QueryRowContext(t.ctx, args...)
}

func (t *txn) exec(q string, args ...any) (sql.Result, error) {
	return t.stmt(q).ExecContext(t.ctx, args...)
}

// read runs fn in a read transaction: one consistent snapshot.
func (s *Store) read(ctx context.Context, fn func(t *txn) error) error {
	return s.r.run(ctx, fn)
}

func (p *pool) run(ctx context.Context, fn func(t *txn) error) error {
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(&txn{ctx: ctx, tx: tx, p: p}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// nanos converts t for storage. The zero time is stored as 0 (and so the
// Unix epoch itself reads back as the zero time).
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos converts a stored time back to a UTC time.Time.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
