package server_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/diskspace"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/sqlite"
	"github.com/nixbucket/nixbucket/internal/server"
	"github.com/nixbucket/nixbucket/internal/storage/localfs"
	"github.com/nixbucket/nixbucket/internal/testenv"
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

// TestRefusesNewerSchema: a server does not start on a metadata database
// a newer program has migrated, says why, and changes nothing: above all it
// does not take the refusal for a full disk and release the disk-space
// reserve (a downgrade once logged "disk full" and deleted it).
func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var log testenv.LogBuffer
	opts := server.Options{Data: dir, Log: slog.New(slog.NewTextHandler(&log, nil)),
		MinFree: diskspace.MinFree{Set: true}} // no threshold: the reserve is made wherever it fits
	srv, err := server.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	reserve := filepath.Join(dir, diskspace.ReserveName)
	if _, err := os.Stat(reserve); err != nil {
		t.Fatalf("no disk-space reserve made at the first start: %v", err)
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if srv, err := server.Open(ctx, opts); err == nil {
		srv.Close()
		t.Fatal("server started on a newer schema")
	} else if !strings.Contains(err.Error(), "schema version 999 is newer than this program's") {
		t.Errorf("refusal: %v", err)
	}
	if _, err := os.Stat(reserve); err != nil {
		t.Errorf("the disk-space reserve after a refused start: %v", err)
	}
	if strings.Contains(log.String(), "disk full") {
		t.Errorf("a refused start on a disk with room logged a full disk:\n%s", log.String())
	}
}
