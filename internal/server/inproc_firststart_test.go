package server_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nixbucket/nixbucket/internal/meta/postgres"
	"github.com/nixbucket/nixbucket/internal/server"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestConcurrentFirstStarts: servers starting at the same moment on one
// new PostgreSQL database, each with its own data directory, all start,
// and agree: one of them is the first start, all hold the same admin key
// (written to each data directory's credentials), and the default cache
// has one signing key. Without the store's lock around the first start,
// each server that found no admin key made its own, and the servers
// racing to add the cache's first key ("nix-cache-1") failed to start.
//
// The race is made certain rather than left to timing: the test holds a
// lock on access_keys that lets the servers read it but not write it, and
// releases it only once every server waits on a lock (the table's, or the
// first start's).
func TestConcurrentFirstStarts(t *testing.T) {
	const servers = 4
	url := testenv.Postgres(t)
	pre, err := postgres.Open(t.Context(), url) // the schema, made beforehand
	if err != nil {
		t.Fatal(err)
	}
	pre.Close()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), `LOCK TABLE access_keys IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	srvs := make([]*server.Server, servers)
	errs := make([]error, servers)
	var wg sync.WaitGroup
	for i := range servers {
		data := filepath.Join(t.TempDir(), "data")
		wg.Go(func() {
			srvs[i], errs[i] = server.Open(context.Background(), server.Options{
				Data: data, Meta: url, Account: "123456789012",
				Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
			})
		})
	}
	// Another session watches (a transaction's view of pg_stat_activity
	// is a snapshot).
	mon, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close(context.Background())
	waiting := 0
	for deadline := time.Now().Add(30 * time.Second); waiting < servers && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err := mon.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	if waiting < servers {
		t.Errorf("%d of %d servers waited on a lock", waiting, servers)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("server %d did not start: %v", i, err)
			continue
		}
		t.Cleanup(func() { srvs[i].Close() })
	}
	if t.Failed() {
		return
	}
	first := 0
	for i, s := range srvs {
		if s.FirstStart {
			first++
		}
		if s.Root.ID != srvs[0].Root.ID {
			t.Errorf("server %d has admin key %s, server 0 %s", i, s.Root.ID, srvs[0].Root.ID)
		}
	}
	if first != 1 {
		t.Errorf("%d servers took their start for the first, want 1", first)
	}
	store, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	keys, err := store.AccessKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	roots := 0
	for _, k := range keys {
		if k.User == server.RootUser {
			roots++
		}
	}
	if roots != 1 {
		t.Errorf("%d admin keys in the store, want 1", roots)
	}
	sks, err := store.SigningKeys(t.Context(), server.DefaultCache)
	if err != nil {
		t.Fatal(err)
	}
	if len(sks) != 1 {
		t.Errorf("%s has %d signing keys, want 1", server.DefaultCache, len(sks))
	}
}
