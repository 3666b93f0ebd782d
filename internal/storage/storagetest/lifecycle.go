package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/storage"
)

// testAbort checks that an aborted blob leaves no trace and that Abort may
// be repeated.
func testAbort(t *testing.T, be storage.Backend) {
	ctx := t.Context()
	for _, size := range []int{0, 1000, 300 << 10} {
		w, err := be.Create(ctx)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if _, err := w.Write(randomBytes(size, 3)); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if err := w.Abort(); err != nil {
			t.Errorf("Abort after %d bytes: %v", size, err)
		}
		if err := w.Abort(); err != nil {
			t.Errorf("second Abort: %v", err)
		}
		if _, err := w.Write([]byte("more")); err == nil {
			t.Error("Write after Abort succeeded")
		}
		if id, err := w.Commit(ctx); err == nil {
			t.Errorf("Commit after Abort succeeded with ID %q", id)
		}
	}
	wantWalk(t, be)
}

// testUncommittedInvisible checks that a blob appears only once committed.
func testUncommittedInvisible(t *testing.T, be storage.Backend) {
	ctx := t.Context()
	data := randomBytes(5000, 5)
	w, err := be.Create(ctx)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatalf("Write: %v", err)
	}
	wantWalk(t, be)

	pending, err := be.Create(ctx)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer pending.Abort()
	if _, err := pending.Write(data); err != nil {
		t.Fatalf("Write: %v", err)
	}

	id, err := w.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	wantWalk(t, be, id)
	checkEqual(t, "committed blob", get(t, be, id), data)
}

// testCommitCancelled commits with a cancelled context. The backend may
// refuse or complete the commit, but it must be one or the other.
func testCommitCancelled(t *testing.T, be storage.Backend) {
	data := randomBytes(4096, 9)
	w, err := be.Create(t.Context())
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatalf("Write: %v", err)
	}
	id, err := w.Commit(cancelled(t))
	if err != nil {
		if err := w.Abort(); err != nil {
			t.Errorf("Abort after failed Commit: %v", err)
		}
		wantWalk(t, be)
		return
	}
	wantWalk(t, be, id)
	checkEqual(t, "blob committed under a cancelled context", get(t, be, id), data)
}

// testAfterCommit checks that a committed Writer cannot change its blob.
// Abort after a successful Commit must not remove the blob, so callers
// may write `defer w.Abort()`.
func testAfterCommit(t *testing.T, be storage.Backend) {
	ctx := t.Context()
	data := randomBytes(4096, 19)
	w, err := be.Create(ctx)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatalf("Write: %v", err)
	}
	id, err := w.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if _, err := w.Write([]byte("more")); err == nil {
		t.Error("Write after Commit succeeded")
	}
	if id2, err := w.Commit(ctx); err == nil && id2 != id {
		t.Errorf("second Commit returned a new blob %q", id2)
	}
	w.Abort()
	wantWalk(t, be, id)
	checkEqual(t, "blob after Abort following Commit", get(t, be, id), data)
}

func testDelete(t *testing.T, be storage.Backend) {
	ctx := t.Context()
	a := Put(t, be, randomBytes(1000, 1))
	bData := randomBytes(1000, 2)
	b := Put(t, be, bData)
	if err := be.Delete(ctx, a); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := be.Delete(ctx, a); err != nil {
		t.Errorf("Delete of a deleted blob: %v", err)
	}
	wantNotExist(t, be, a)
	wantWalk(t, be, b)
	checkEqual(t, "other blob after Delete", get(t, be, b), bData)
}

// testOpenMissing opens IDs that were never committed, including ones
// that try to escape the backend's namespace.
func testOpenMissing(t *testing.T, be storage.Backend) {
	deleted := Put(t, be, []byte("gone"))
	if err := be.Delete(t.Context(), deleted); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	ids := []string{
		deleted,
		"",
		"missing",
		"00000000000000000000000000000000",
		"../missing",
		"../../../../../../etc/passwd",
		"/etc/passwd",
		".",
		"..",
		"a/b",
		"\x00",
	}
	for _, id := range ids {
		wantNotExist(t, be, id)
	}
}

func testWalk(t *testing.T, be storage.Backend, skew time.Duration) {
	ctx := t.Context()
	before := time.Now()
	var ids []string
	for i, size := range []int{0, 1, 4096, 100_000, 7} {
		ids = append(ids, Put(t, be, randomBytes(size, uint64(i))))
	}
	after := time.Now()
	if err := be.Delete(ctx, ids[2]); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	live := append(ids[:2:2], ids[3:]...)

	aborted, err := be.Create(ctx)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	aborted.Write([]byte("aborted"))
	aborted.Abort()
	pending, err := be.Create(ctx)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer pending.Abort()
	pending.Write([]byte("pending"))

	wantWalk(t, be, live...)
	for id, committed := range walk(t, be) {
		if committed.Before(before.Add(-skew)) || committed.After(after.Add(skew)) {
			t.Errorf("Walk reported %s committed at %v, outside [%v, %v] ± %v",
				id, committed, before, after, skew)
		}
	}
}

func testWalkStops(t *testing.T, be storage.Backend) {
	for i := range 3 {
		Put(t, be, randomBytes(10, uint64(i)))
	}
	stop := errors.New("stop here")
	calls := 0
	err := be.Walk(t.Context(), func(string, time.Time) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Errorf("Walk = %v, want fn's error", err)
	}
	if calls != 1 {
		t.Errorf("Walk called fn %d times, want 1: it must stop at fn's first error", calls)
	}
}

// testConcurrentWriters commits from 16 goroutines at once; every blob must
// get its own ID and keep its own bytes.
func testConcurrentWriters(t *testing.T, be storage.Backend) {
	const writers, perWriter = 16, 4
	var ids [writers][perWriter]string
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			ctx := t.Context()
			for i := range perWriter {
				data := randomBytes(g*1000+i*4096+1, uint64(g*perWriter+i))
				w, err := be.Create(ctx)
				if err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				if _, err := w.Write(data); err != nil {
					w.Abort()
					t.Errorf("Write: %v", err)
					return
				}
				id, err := w.Commit(ctx)
				if err != nil {
					w.Abort()
					t.Errorf("Commit: %v", err)
					return
				}
				ids[g][i] = id
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	seen := make(map[string]bool)
	var all []string
	for g := range writers {
		for i := range perWriter {
			id := ids[g][i]
			if seen[id] {
				t.Fatalf("ID %s committed twice", id)
			}
			seen[id] = true
			all = append(all, id)
			want := randomBytes(g*1000+i*4096+1, uint64(g*perWriter+i))
			checkEqual(t, "blob "+id, get(t, be, id), want)
		}
	}
	wantWalk(t, be, all...)
}
