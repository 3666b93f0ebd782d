package storagetest

import (
	"testing"

	"github.com/nixbucket/nixbucket/internal/storage"
)

// foreignID is an ID of the form every backend makes, as if another
// backend had made it.
const foreignID = "0123456789abcdef0123456789abcdef"

// testCreateAt checks storage.Placer, for backends that offer it: a blob
// created under a chosen ID is invisible until committed, then read back
// under that ID and walked; an aborted one leaves nothing; a second
// commit of the same ID replaces the first; an ID the backend could not
// have made is refused.
func testCreateAt(t *testing.T, be storage.Backend, partSize int) {
	p, ok := be.(storage.Placer)
	if !ok {
		t.Logf("%T is not a storage.Placer", be)
		return
	}
	ctx := t.Context()
	data := randomBytes(partSize+partSize/2, 41)

	aborted, err := p.CreateAt(ctx, foreignID)
	if err != nil {
		t.Fatalf("CreateAt(%s): %v", foreignID, err)
	}
	if _, err := aborted.Write(data[:100]); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := aborted.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	wantNotExist(t, be, foreignID)

	for i, body := range [][]byte{data[:1000], data} { // the second replaces the first
		w, err := p.CreateAt(ctx, foreignID)
		if err != nil {
			t.Fatalf("CreateAt(%s): %v", foreignID, err)
		}
		if _, err := w.Write(body); err != nil {
			w.Abort()
			t.Fatalf("Write: %v", err)
		}
		if i == 0 {
			wantNotExist(t, be, foreignID)
		}
		id, err := w.Commit(ctx)
		if err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if id != foreignID {
			t.Fatalf("Commit of CreateAt(%s) returned ID %s", foreignID, id)
		}
		checkEqual(t, "blob created at a chosen ID", get(t, be, foreignID), body)
	}
	wantWalk(t, be, foreignID)

	for _, bad := range []string{"", "../../etc/passwd", "0123456789ABCDEF0123456789ABCDEF", foreignID + "0"} {
		if w, err := p.CreateAt(ctx, bad); err == nil {
			w.Abort()
			t.Errorf("CreateAt(%q) succeeded, want an error for an ID no backend makes", bad)
		}
	}
}
