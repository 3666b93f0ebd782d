package server_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/backend"
	"github.com/nixbucket/nixbucket/internal/server"
	"github.com/nixbucket/nixbucket/internal/storage/localfs"
)

// TestSweepWaitsForAdminWrites: an admin command writing beside a server
// (bucket resign) commits a blob, then the metadata that refers to it. A
// server starting in between must not sweep the blob as garbage: it waits
// for the command's sweep hold, and the object stays readable.
func TestSweepWaitsForAdminWrites(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	quiet := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	srv, err := server.Open(context.Background(), server.Options{Data: data, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()

	// The command, half-way: its blob committed, its metadata not yet.
	release, err := server.HoldSweep(data)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := localfs.OpenShared(filepath.Join(data, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("a blob of an admin command "), 2000)
	w, err := blobs.Create(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	w.Write(body)
	id, err := w.Commit(ctx(t))
	if err != nil {
		t.Fatal(err)
	}

	log := &logBuffer{}
	opened := make(chan error, 1)
	var started *server.Server
	go func() {
		var err error
		started, err = server.Open(context.Background(), server.Options{Data: data, Log: slog.New(slog.NewTextHandler(log, nil))})
		opened <- err
	}()
	for len(log.lines("waiting for an admin command")) == 0 {
		select {
		case err := <-opened:
			t.Fatalf("the server opened (%v) without waiting for the admin command", err)
		case <-time.After(10 * time.Millisecond):
		}
	}

	// The command commits its metadata and ends.
	store, err := backend.OpenExisting(data, "")
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(body)
	obj := meta.Object{Bucket: server.DefaultCache, Key: "big", Size: int64(len(body)), ETag: hex.EncodeToString(sum[:]),
		Modified: time.Now(), Segments: []meta.Segment{{Blob: id, Size: int64(len(body))}}}
	if _, err := store.PutObject(ctx(t), obj, nil); err != nil {
		t.Fatal(err)
	}
	store.Close()
	release()

	if err := <-opened; err != nil {
		t.Fatal(err)
	}
	defer started.Close()
	_, r, err := started.Objects().Get(ctx(t), server.DefaultCache, "big")
	if err != nil {
		t.Fatalf("the admin command's object after the server's sweep: %v\n%s", err, log)
	}
	defer r.Close()
	var got bytes.Buffer
	got.ReadFrom(r)
	if !bytes.Equal(got.Bytes(), body) || strings.Contains(log.String(), "removed unreferenced blobs") {
		t.Errorf("the object's blob was swept: %d bytes read\n%s", got.Len(), log)
	}
}
