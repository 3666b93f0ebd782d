package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nixbucket/nixbucket/internal/stall"
)

// Group commit.
//
// With synchronous=FULL every commit costs an fsync of the WAL, a
// millisecond or more, and SQLite commits one transaction at a time, so
// committing each write on its own caps the store at one fsync's worth of
// writes per second however many clients wait. Instead one goroutine takes
// every write request waiting at the moment, runs them one after another in
// one transaction, each inside its own savepoint, and commits them with one
// fsync. A request whose function fails is rolled back to its savepoint
// alone; the others still commit. Every caller gets its answer only after
// the commit, so an acknowledged write is durable, and requests are
// serialised in the order the committer took them: each sees the effects
// of those before it.

// maxBatch bounds the requests committed together, and so the size of one
// transaction.
const maxBatch = 64

var errClosed = errors.New("metadata store is closed")

var (
	qSavepoint  = query(`SAVEPOINT request`)
	qRollbackTo = query(`ROLLBACK TO request`)
	qRelease    = query(`RELEASE request`)
)

// writeReq is one write transaction's function waiting for the committer.
type writeReq struct {
	ctx      context.Context
	fn       func(t *txn) error
	announce bool  // a change that caches elsewhere must see: advance the generation
	err      error // fn's error unchanged, or the batch's
	panicked any   // fn's panic, re-raised on the caller's goroutine
	done     chan struct{}
}

// write runs fn in the write transaction and returns once that committed
// (nil) or failed. fn's error is returned unchanged, and nothing fn did is
// kept; fn may run on another goroutine, but a panic in it is re-raised in
// the caller.
func (s *Store) write(ctx context.Context, fn func(t *txn) error) error {
	return s.submit(&writeReq{ctx: ctx, fn: fn})
}

// writeAnnounced is write for a change of identity data (users, keys, tokens,
// policies, settings) or of other data servers cache the same way (Nix
// cache settings, signing keys): once it committed, the generation
// advances, here and in every other process that has the database open.
func (s *Store) writeAnnounced(ctx context.Context, fn func(t *txn) error) error {
	return s.submit(&writeReq{ctx: ctx, fn: fn, announce: true})
}

// submit hands r to the committer and waits for its outcome.
func (s *Store) submit(r *writeReq) error {
	ctx := r.ctx
	if err := ctx.Err(); err != nil {
		return err
	}
	r.done = make(chan struct{})
	select {
	case s.queue <- r: // the committer was idle
	default:
		if err := s.handOff(r); err != nil {
			return err
		}
	}
	// Once taken, the request may commit even if ctx ends now: wait for the
	// outcome, so the caller never drops garbage it was given.
	<-r.done
	if r.panicked != nil {
		panic(r.panicked)
	}
	return diskFull(r.err)
}

// handOff waits for the committer to take r: while it commits the batch
// before, whose BEGIN may wait up to busyTimeout for another process's
// lock. A request whose context carries a bound (stall.Bound) stops
// waiting after it, with errLocked (Unreachable, a 503): r was not taken,
// so it never commits.
func (s *Store) handOff(r *writeReq) error {
	var expired <-chan time.Time
	if d := stall.Bound(r.ctx); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		expired = t.C
	}
	select {
	case s.queue <- r:
		return nil
	case <-r.ctx.Done():
		return r.ctx.Err()
	case <-s.closing:
		return errClosed
	case <-expired:
		return errLocked
	}
}

// errLocked: a write waited its bound for the writer, which was itself
// waiting for another process's lock or fsync.
var errLocked = errors.New("the metadata database's writer is still busy (another process holds the database locked, or the disk stalls)")

// commitLoop is the committer goroutine.
func (s *Store) commitLoop() {
	defer close(s.stopped)
	batch := make([]*writeReq, 0, maxBatch)
	for {
		select {
		case r := <-s.queue:
			batch = append(batch[:0], r)
			s.batches.Add(1)
		case <-s.closing:
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-s.queue:
				batch = append(batch, r)
			default:
				break more
			}
		}
		s.commit(batch)
		for _, r := range batch {
			close(r.done)
		}
		clear(batch) // drop the references to finished requests
	}
}

// commit runs the batch in one transaction and sets each request's outcome.
func (s *Store) commit(batch []*writeReq) {
	ctx := context.Background() // a request's end must not interrupt the others
	fail := func(err error) {
		for _, r := range batch {
			if r.err == nil && r.panicked == nil {
				r.err = err
			}
		}
	}
	tx, err := s.w.db.BeginTx(ctx, nil)
	if err != nil {
		fail(fmt.Errorf("begin transaction: %w", err))
		return
	}
	t := &txn{ctx: ctx, tx: tx, p: s.w}
	single := len(batch) == 1 // needs no savepoint: failure rolls back all
	pending := 0
	for _, r := range batch {
		if r.err = r.ctx.Err(); r.err != nil {
			continue
		}
		if !single {
			if _, err := t.exec(qSavepoint); err != nil {
				tx.Rollback()
				fail(fmt.Errorf("begin savepoint: %w", err))
				return
			}
		}
		r.panicked, r.err = run(t, r.fn)
		if single {
			break
		}
		if r.err != nil || r.panicked != nil {
			if _, err := t.exec(qRollbackTo); err != nil {
				tx.Rollback()
				fail(fmt.Errorf("roll back savepoint: %w", err))
				return
			}
		} else {
			pending++
		}
		if _, err := t.exec(qRelease); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if single && batch[0].err == nil && batch[0].panicked == nil {
		pending = 1
	}
	if pending == 0 {
		tx.Rollback()
		return
	}
	announce := false
	for _, r := range batch {
		announce = announce || r.announce && r.err == nil && r.panicked == nil
	}
	err = tx.Commit()
	// After the commit, and before any caller returns: see gen.go. Also
	// after a failed commit, which may have happened: a needless advance
	// costs a cache a reload, a missed one leaves it stale.
	if announce {
		s.gen.Load().bump() // Close clears gen only after the committer stopped
	}
	if err != nil {
		fail(fmt.Errorf("commit: %w", err))
		if diskFull(err) != err {
			s.afterFull(ctx)
		}
		return
	}
	s.commits.Add(1)
}

// run calls fn, catching a panic so that the committer survives it.
func run(t *txn, fn func(t *txn) error) (panicked any, err error) {
	defer func() {
		if p := recover(); p != nil {
			panicked = p
		}
	}()
	return nil, fn(t)
}
