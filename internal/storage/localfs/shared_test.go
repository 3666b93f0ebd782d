package localfs

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOpenShared opens a store in use by a "server" from a second
// "process", as verify does: opening and walking it must not remove the
// server's uploads in flight (temporaries and spares), which then commit.
func TestOpenShared(t *testing.T) {
	root := filepath.Join(t.TempDir(), "store")
	if _, err := OpenShared(root); err == nil {
		t.Error("OpenShared of a missing store succeeded, want an error")
	}
	server := open(t, root)
	kept := put(t, server, "committed")
	var inFlight []string
	for i := range 3 {
		w, err := server.Create(t.Context())
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		defer w.Abort()
		if _, err := w.Write([]byte("in flight")); err != nil {
			t.Fatal(err)
		}
		defer func() {
			id, err := w.Commit(t.Context())
			if err != nil {
				t.Errorf("upload %d: Commit after a shared open and walk: %v", i, err)
			}
			inFlight = append(inFlight, id)
		}()
	}
	shared, err := OpenShared(root)
	if err != nil {
		t.Fatalf("OpenShared: %v", err)
	}
	if n := shared.SweptTemps(); n != 0 {
		t.Errorf("OpenShared swept %d temporaries, want none", n)
	}
	if ids := walkIDs(t, shared); len(ids) != 1 || !has(ids, kept) {
		t.Errorf("shared Walk = %v, want only the committed %s", ids, kept)
	}
	b, err := shared.Open(t.Context(), kept)
	if err != nil {
		t.Fatalf("shared Open: %v", err)
	}
	b.Close()
	t.Cleanup(func() {
		// The uploads committed (deferred above) and are readable.
		for _, id := range inFlight {
			if _, err := os.Stat(server.path(id)); err != nil {
				t.Errorf("committed upload %s: %v", id, err)
			}
		}
	})
}

func has[V any](m map[string]V, k string) bool { _, ok := m[k]; return ok }
