package server_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/sqlite"
	"github.com/nixbucket/nixbucket/internal/server"
	"github.com/nixbucket/nixbucket/internal/storage/localfs"
)

// TestRefusesUnfinishedMigration: a server does not start on a store that
// nixbucket migrate has not finished filling, and removes no blob of it
// (the sweep at start would take the blobs not copied yet for garbage);
// once the mark is cleared it starts.
func TestRefusesUnfinishedMigration(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := sqlite.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SetSetting(ctx, meta.SettingMigrating, "from data directory /x, started 2026-01-01T00:00:00Z"); err != nil {
		t.Fatal(err)
	}
	blobs, err := localfs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := blobs.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("not copied yet"))
	id, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	blobs.Close()
	opts := server.Options{Data: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if srv, err := server.Open(ctx, opts); err == nil {
		srv.Close()
		t.Fatal("server started on a store migrate has not finished")
	} else if !strings.Contains(err.Error(), "being filled by nixbucket migrate (from data directory /x") {
		t.Errorf("refusal: %v", err)
	}
	blobs, err = localfs.OpenShared(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := blobs.Open(ctx, id); err != nil {
		t.Errorf("the unreferenced blob after a refused start: %v", err)
	} else {
		b.Close()
	}
	if err := store.SetSetting(ctx, meta.SettingMigrating, ""); err != nil {
		t.Fatal(err)
	}
	store.Close()
	srv, err := server.Open(ctx, opts)
	if err != nil {
		t.Fatalf("server on a finished store: %v", err)
	}
	srv.Close()
}
