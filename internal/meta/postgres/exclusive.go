package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
)

// Exclusive runs fn while this store holds the session advisory lock
// (pg_advisory_lock) named name, after waiting for whoever holds it on any
// node. Steps that read the store and then create what must exist only
// once — the admin key and the first bucket's signing key of servers
// starting at once on a new database — run under it, so that the second
// server finds what the first made instead of making its own.
//
// The lock is held on one pooled connection for the length of fn, and
// goes with the session if that connection dies, so a server killed
// while it holds the lock does not block the others.
func (s *Store) Exclusive(ctx context.Context, name string, fn func() error) error {
	key := exclusiveKey(name)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	defer func() {
		// Should the unlock fail, the session must not go back to the
		// pool still holding the lock: closing it releases the lock.
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key); err != nil {
			conn.Conn().Close(context.Background())
		}
	}()
	return fn()
}

// exclusiveKey is the advisory lock key of a name: a hash, under a prefix
// no other program's locks are likely to share.
func exclusiveKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("nixbucket exclusive: " + name))
	return int64(h.Sum64())
}
