package storagetest

import (
	"fmt"
	"testing"

	"github.com/nixbucket/nixbucket/internal/storage"
)

// testCreateSized checks storage.SizedCreator, for backends that offer
// it: blobs of sizes around a part round-trip, uncommitted ones stay
// invisible, a blob given fewer bytes than announced fails to commit and
// one given more fails to write, an aborted one (even fully written)
// leaves nothing, and none of these leaves a blob for Walk.
func testCreateSized(t *testing.T, be storage.Backend, part int) {
	sc, ok := be.(storage.SizedCreator)
	if !ok {
		t.Logf("%T is not a storage.SizedCreator", be)
		return
	}
	ctx := t.Context()
	var kept []string
	for _, size := range []int{0, 1, part, part + 1, 3*part + 7} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := randomBytes(size, uint64(size)+51)
			w, err := sc.CreateSized(ctx, int64(size))
			if err != nil {
				t.Fatalf("CreateSized(%d): %v", size, err)
			}
			// Written in uneven pieces, as a request body arrives.
			for off := 0; off < size; {
				n := min(size-off, 1+off%70000)
				if _, err := w.Write(data[off : off+n]); err != nil {
					w.Abort()
					t.Fatalf("Write at %d: %v", off, err)
				}
				off += n
			}
			id, err := w.Commit(ctx)
			if err != nil {
				t.Fatalf("Commit: %v", err)
			}
			checkEqual(t, "sized blob", get(t, be, id), data)
			kept = append(kept, id)
		})
	}
	size := part + part/2
	data := randomBytes(size, 77)
	short, err := sc.CreateSized(ctx, int64(size))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := short.Write(data[:size-1]); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if id, err := short.Commit(ctx); err == nil {
		t.Errorf("Commit of %d bytes of %d announced: blob %s, want an error", size-1, size, id)
	}
	if n := len(walk(t, be)); n != len(kept) {
		t.Errorf("after a short write: Walk finds %d blobs, want the %d committed", n, len(kept))
	}
	long, err := sc.CreateSized(ctx, int64(size))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := long.Write(data); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if _, err := long.Write([]byte{1}); err == nil {
		t.Error("Write past the announced size: no error")
	}
	long.Abort()
	if n := len(walk(t, be)); n != len(kept) {
		t.Errorf("after a long write: Walk finds %d blobs, want the %d committed", n, len(kept))
	}
	full, err := sc.CreateSized(ctx, int64(size))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := full.Write(data); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := full.Abort(); err != nil {
		t.Fatalf("Abort of a fully written blob: %v", err)
	}
	seen := walk(t, be)
	if len(seen) != len(kept) {
		t.Errorf("Walk finds %d blobs, want the %d committed", len(seen), len(kept))
	}
	for _, id := range kept {
		if _, ok := seen[id]; !ok {
			t.Errorf("Walk lacks committed blob %s", id)
		}
	}
}
