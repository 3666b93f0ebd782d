package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Job locks (meta.JobLocks).
//
// A job lock is a session-level advisory lock, pg_try_advisory_lock(
// jobLockClass, hash of the name), taken on a connection of its own (the
// job session, application_name nixbucket-jobs) that the Store takes out
// of the pool while it holds any lock and closes when it holds none, so a
// node that runs no job keeps no extra connection. PostgreSQL frees a
// session's advisory locks when the session ends, and only then, so:
//
//   - a node that dies (kill -9, power loss) frees its locks once its
//     session ends: at once when its TCP connection is reset, else when
//     the server's TCP keepalives or user timeout give up on it, which
//     the job session sets to about half a minute (jobKeepalives) instead
//     of the system's two hours or more;
//   - while the job session is up, the locks taken on it are held: the
//     Store pings it every jobPingEvery, and when a ping or any statement
//     fails it closes the connection and closes every lease's Lost.
//
// The job session's statements are background traffic, left out of
// Statements (the session keeps the pool's tracer).
//
// Advisory locks are reentrant within a session, so the Store keeps the
// names it holds and refuses a second TryLock itself. The two-key form
// keeps job locks apart from the migration lock (a one-key lock, see
// migrate.go): the keys of the two forms never collide. Two names whose
// 32-bit hashes collided would share a lock, which would only serialise
// their jobs.

// jobLockClass is the first key of every job lock: "nbjb" in ASCII.
const jobLockClass int32 = 0x6e626a62

// jobApp is the job session's application_name, which pg_stat_activity
// shows: the node holding the jobs is the client_addr of that row.
const jobApp = "nixbucket-jobs"

// jobKeepalives makes the server notice a job session's peer gone within
// about half a minute, on TCP connections (Unix sockets ignore them): by
// keepalives (15 + 3×5 s) while the connection is idle, and by
// tcp_user_timeout while data it sent (a ping's answer) is unacknowledged,
// which keepalives do not cover. It also names the session.
const jobKeepalives = `SET tcp_keepalives_idle = 15; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3; ` +
	`SET tcp_user_timeout = 30000; SET application_name = '` + jobApp + `'`

// Variables for tests.
var (
	// jobPingEvery is how often a held job session is checked.
	jobPingEvery = 5 * time.Second
	// jobPingTimeout bounds one check.
	jobPingTimeout = 10 * time.Second
)

// jobKey returns the second key of name's lock.
func jobKey(name string) int32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int32(h.Sum32())
}

// jobLocks is a Store's side of its job locks.
type jobLocks struct {
	pool *pgxpool.Pool

	mu     sync.Mutex
	sess   *jobSession // nil while no lock is held
	closed bool
}

// jobSession is the connection that holds a Store's job locks.
type jobSession struct {
	conn *pgx.Conn
	held map[string]*jobLease
	stop chan struct{} // closed when the session ends: the pinger stops
}

// jobLease is a lock held on a job session.
type jobLease struct {
	j    *jobLocks
	s    *jobSession
	name string
	lost chan struct{}
}

// TryLock implements meta.JobLocks.
func (s *Store) TryLock(ctx context.Context, name string) (meta.Lease, bool, error) {
	if err := meta.CheckJobName(name); err != nil {
		return nil, false, err
	}
	j := s.jobs
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil, false, fmt.Errorf("job lock %s: store closed", name)
	}
	if j.sess != nil && j.sess.held[name] != nil {
		return nil, false, nil
	}
	if j.sess == nil {
		sess, err := j.open(ctx)
		if err != nil {
			return nil, false, fmt.Errorf("job lock %s: %w", name, err)
		}
		j.sess = sess
	}
	sess := j.sess
	var ok bool
	err := sess.conn.QueryRow(uncounted(ctx), `SELECT pg_try_advisory_lock($1, $2)`, jobLockClass, jobKey(name)).Scan(&ok)
	if err != nil {
		j.end(sess, err)
		return nil, false, fmt.Errorf("job lock %s: %w", name, err)
	}
	if !ok {
		if len(sess.held) == 0 {
			j.end(sess, nil)
		}
		return nil, false, nil
	}
	l := &jobLease{j: j, s: sess, name: name, lost: make(chan struct{})}
	sess.held[name] = l
	return l, true, nil
}

// open takes a connection out of the pool for a new job session, and
// starts checking it.
func (j *jobLocks) open(ctx context.Context) (*jobSession, error) {
	pc, err := j.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	conn := pc.Hijack() // the pool forgets it: it is ours to close
	if _, err := conn.Exec(uncounted(ctx), jobKeepalives); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	sess := &jobSession{conn: conn, held: map[string]*jobLease{}, stop: make(chan struct{})}
	go j.ping(sess)
	return sess, nil
}

// ping checks sess every jobPingEvery until it ends, and ends it when a
// check fails: its locks may be gone.
func (j *jobLocks) ping(sess *jobSession) {
	t := time.NewTicker(jobPingEvery)
	defer t.Stop()
	for {
		select {
		case <-sess.stop:
			return
		case <-t.C:
		}
		j.mu.Lock()
		if j.sess != sess {
			j.mu.Unlock()
			return
		}
		ctx, cancel := context.WithTimeout(uncounted(context.Background()), jobPingTimeout)
		err := sess.conn.Ping(ctx)
		cancel()
		if err != nil {
			j.end(sess, err)
		}
		j.mu.Unlock()
	}
}

// end closes the session sess, with j.mu held; the locks held on it are
// lost. err, when not nil, is why.
func (j *jobLocks) end(sess *jobSession, err error) {
	if j.sess != sess {
		return
	}
	j.sess = nil
	close(sess.stop)
	sess.conn.Close(context.Background())
	if len(sess.held) > 0 && err != nil && !errors.Is(err, context.Canceled) {
		slog.Warn("metadata: lost the connection holding job locks", "jobs", len(sess.held), "err", err)
	}
	for name, l := range sess.held {
		delete(sess.held, name)
		close(l.lost)
	}
}

func (l *jobLease) Lost() <-chan struct{} { return l.lost }

// Release unlocks the lock, and ends the session when it held no other.
func (l *jobLease) Release() {
	j := l.j
	j.mu.Lock()
	defer j.mu.Unlock()
	sess := l.s
	if j.sess != sess || sess.held[l.name] != l {
		return // released before, or lost
	}
	delete(sess.held, l.name)
	close(l.lost)
	if len(sess.held) == 0 {
		j.end(sess, nil) // the session's end frees the lock
		return
	}
	ctx, cancel := context.WithTimeout(uncounted(context.Background()), jobPingTimeout)
	defer cancel()
	var unlocked bool
	err := sess.conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1, $2)`, jobLockClass, jobKey(l.name)).Scan(&unlocked)
	if err != nil || !unlocked {
		// Still held, or unknown: ending the session frees it for sure.
		j.end(sess, err)
	}
}

// close ends the job session, freeing every lock, for Close.
func (j *jobLocks) close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.closed = true
	if j.sess != nil {
		j.end(j.sess, nil)
	}
}
