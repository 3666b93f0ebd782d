package meta

import (
	"context"
	"errors"
	"fmt"
)

// ErrInvalidJobName is returned (wrapped) by TryLock for a name
// CheckJobName refuses.
var ErrInvalidJobName = errors.New("invalid job name")

// JobLocks are the store's named locks for background jobs that scan or
// change the whole store (scheduled GC, lifecycle sweeps, sweeping a
// shared blob store): with several servers on one store, the node holding
// a job's lock runs it, the others do not, and when that node dies its
// lock is freed for another to take (see internal/jobs).
//
// The contract, which metatest checks through two instances of one store:
//
//   - At most one holder of a name at a time, across every instance of
//     the store in every process. A second TryLock of a held name returns
//     ok false, also through the instance that holds it; names are
//     independent of each other.
//   - TryLock never waits for the lock; ok false is not an error.
//   - The lock is freed by Release, by closing the instance that holds it,
//     and by the death of the process holding it (the operating system or
//     the database server ends what held it). Lost is then closed.
//   - Lost is also closed when the instance loses the lock without being
//     told to (PostgreSQL: the session holding it ended). Another holder
//     may have the lock by the time the holder notices, so a job must
//     tolerate a brief overlap with its next holder; every job here is a
//     series of short transactions that each recheck what they change.
type JobLocks interface {
	// TryLock takes the lock named name if no one holds it. Names pass
	// CheckJobName, else ErrInvalidJobName.
	TryLock(ctx context.Context, name string) (lease Lease, ok bool, err error)
}

// Lease is a held job lock.
type Lease interface {
	// Lost is closed once the lock is no longer held: after Release, after
	// the instance closed, or when the instance lost what held the lock.
	Lost() <-chan struct{}
	// Release frees the lock. It may be called more than once, and after
	// Lost was closed.
	Release()
}

// maxJobName bounds a job lock's name.
const maxJobName = 64

// CheckJobName returns ErrInvalidJobName (wrapped) unless name is 1 to 64
// lower-case letters, digits and dashes: names are fixed words of the
// program ("gc", "lifecycle"), and stores may use them in file names.
func CheckJobName(name string) error {
	if name == "" || len(name) > maxJobName {
		return fmt.Errorf("%w: %q: want 1 to %d characters", ErrInvalidJobName, name, maxJobName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return fmt.Errorf("%w: %q: want lower-case letters, digits and dashes", ErrInvalidJobName, name)
		}
	}
	return nil
}
