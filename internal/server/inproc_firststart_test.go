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
// each server that found no admin key made its own, and the servers that
// found nix-cache without a key yet raced to add "nix-cache-1": the
// losers failed to start.
//
// Both races are made certain rather than left to timing: the test holds
// access_keys, then signing_keys, so that the servers may read them but
// not write them, and lets each go only once every server waits on it or
// on the first start's lock.
func TestConcurrentFirstStarts(t *testing.T) {
	const servers = 4
	url := testenv.Postgres(t)
	pre, err := postgres.Open(t.Context(), url) // the schema, made beforehand
	if err != nil {
		t.Fatal(err)
	}
	pre.Close()
	// hold takes a lock on table that lets others read it, not write it,
	// until release.
	hold := func(table string) (release func()) {
		conn, err := pgx.Connect(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := conn.Begin(t.Context())
		if err == nil {
			_, err = tx.Exec(t.Context(), `LOCK TABLE `+table+` IN EXCLUSIVE MODE`)
		}
		if err != nil {
			t.Fatal(err)
		}
		return func() {
			if err := tx.Commit(context.Background()); err != nil {
				t.Error(err)
			}
			conn.Close(context.Background())
		}
	}
	mon, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close(context.Background())
	// waitBlocked waits until every server waits for table or for an
	// advisory lock (the first start's).
	waitBlocked := func(table string) {
		t.Helper()
		n := 0
		for deadline := time.Now().Add(30 * time.Second); n < servers && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if err := mon.QueryRow(t.Context(), `SELECT count(*) FROM pg_locks
				WHERE NOT granted AND (relation = $1::regclass OR locktype = 'advisory')`, table).Scan(&n); err != nil {
				t.Fatal(err)
			}
		}
		if n < servers {
			t.Errorf("%d of %d servers waited for %s or the first start's lock", n, servers, table)
		}
	}
	releaseKeys, releaseSigning := hold("access_keys"), hold("signing_keys")

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
	waitBlocked("access_keys")
	releaseKeys()
	waitBlocked("signing_keys")
	releaseSigning()
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
