package server_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

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
// A race shows only sometimes, so the start is repeated on fresh
// databases, whose schema is made beforehand so that the servers do not
// line up behind the migration lock.
func TestConcurrentFirstStarts(t *testing.T) {
	const rounds, servers = 4, 5
	for round := range rounds {
		t.Run(strconv.Itoa(round), func(t *testing.T) {
			url := testenv.Postgres(t)
			pre, err := postgres.Open(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			pre.Close()

			srvs := make([]*server.Server, servers)
			errs := make([]error, servers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range servers {
				data := filepath.Join(t.TempDir(), "data")
				wg.Go(func() {
					<-start
					srvs[i], errs[i] = server.Open(context.Background(), server.Options{
						Data: data, Meta: url, Account: "123456789012",
						Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
					})
				})
			}
			close(start)
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
		})
	}
}
