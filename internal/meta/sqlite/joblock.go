package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Job locks (meta.JobLocks).
//
// One server works on a data directory (it locks it), so on this store a
// job lock matters little, but it costs little to make it a real one: a
// lock is flock(2) on a file beside the database, the database's path
// with "-job-NAME" appended, held open by the Store that holds the lock.
// flock locks belong to the open file, so two Stores, in one process or
// in two (the server and an admin command), exclude each other, and the
// kernel frees the lock when the holder's process dies. Each Store also
// keeps the names it holds, so that a second TryLock through the holder
// is refused too.

// jobLocks is a Store's side of its job locks.
type jobLocks struct {
	db string // the database's path

	mu     sync.Mutex
	held   map[string]*jobLease
	closed bool
}

// jobLease is a lock held: its locked file.
type jobLease struct {
	j    *jobLocks
	name string
	f    *os.File
	lost chan struct{}
}

// TryLock implements meta.JobLocks.
func (s *Store) TryLock(ctx context.Context, name string) (meta.Lease, bool, error) {
	if err := meta.CheckJobName(name); err != nil {
		return nil, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	j := &s.jobs
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil, false, fmt.Errorf("job lock %s: store closed", name)
	}
	if j.held[name] != nil {
		return nil, false, nil
	}
	f, err := openJobFile(j.db, name)
	if err != nil {
		return nil, false, fmt.Errorf("job lock %s: %w", name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("job lock %s: %w", name, err)
	}
	l := &jobLease{j: j, name: name, f: f, lost: make(chan struct{})}
	if j.held == nil {
		j.held = map[string]*jobLease{}
	}
	j.held[name] = l
	return l, true, nil
}

// openJobFile opens the lock file of name beside the database db,
// creating it if needed. Created by root (an admin command under sudo),
// it is given to the database file's owner, as the -gen file is, or the
// server could not open it.
func openJobFile(db, name string) (*os.File, error) {
	f, err := os.OpenFile(db+"-job-"+name, os.O_RDONLY|os.O_CREATE, dbFileMode) // flock needs no write access
	if err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		if fi, err := os.Stat(db); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
					f.Close()
					return nil, err
				}
			}
		}
	}
	return f, nil
}

func (l *jobLease) Lost() <-chan struct{} { return l.lost }

func (l *jobLease) Release() {
	l.j.mu.Lock()
	defer l.j.mu.Unlock()
	l.release()
}

// release frees the lock, with j.mu held.
func (l *jobLease) release() {
	if l.j.held[l.name] != l {
		return // released before
	}
	delete(l.j.held, l.name)
	l.f.Close() // closing the file frees the flock
	close(l.lost)
}

// close releases every lock the Store holds, for Close.
func (j *jobLocks) close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.closed = true
	for _, l := range j.held {
		l.release()
	}
}
