package cors_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/cors"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/backend"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

// TestServiceAcrossInstances runs on both metadata stores, with two
// instances of one store as two servers (or a server and the CLI) would
// have: a configuration set, changed or deleted through one is what the
// other answers by its next call, although it keeps configurations in
// memory; and a bucket deleted and made again under its name does not
// inherit its predecessor's configuration, even within the same second
// (a script's delete-bucket then create-bucket).
func TestServiceAcrossInstances(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			ctx := context.Background()
			data, url := t.TempDir(), ""
			if store == "postgres" {
				url = testenv.Postgres(t)
			}
			open := func() meta.Store {
				s, err := backend.Open(data, url)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			sa, sb := open(), open()
			a := &cors.Service{Store: sa.(cors.Store)}
			b := &cors.Service{Store: sb.(cors.Store)}
			second := time.Now().Add(-time.Hour).Truncate(time.Second)
			if err := sa.CreateBucket(ctx, meta.Bucket{Name: "web", Created: second.Add(100 * time.Millisecond)}); err != nil {
				t.Fatal(err)
			}
			origins := func(s *cors.Service) string {
				t.Helper()
				c, err := s.Config(ctx, "web")
				if err != nil {
					t.Fatal(err)
				}
				if c == nil {
					return "none"
				}
				return c.Rules[0].AllowedOrigins[0]
			}
			set := func(origin string) {
				t.Helper()
				c, err := cors.Parse([]byte(`<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>` + origin + `</AllowedOrigin></CORSRule></CORSConfiguration>`))
				if err != nil {
					t.Fatal(err)
				}
				if err := a.Set(ctx, "web", c); err != nil {
					t.Fatal(err)
				}
			}
			if got := origins(b); got != "none" { // b remembers "none" now
				t.Fatalf("before any: %s", got)
			}
			set("https://one.example")
			if got := origins(b); got != "https://one.example" {
				t.Fatalf("after a set through the other instance: %s", got)
			}
			set("https://two.example")
			if got := origins(b); got != "https://two.example" {
				t.Fatalf("after a change through the other instance: %s", got)
			}
			if err := a.Delete(ctx, "web"); err != nil {
				t.Fatal(err)
			}
			if got := origins(b); got != "none" {
				t.Fatalf("after a delete through the other instance: %s", got)
			}
			set("https://three.example")
			if err := sa.DeleteBucket(ctx, "web"); err != nil {
				t.Fatal(err)
			}
			if got := origins(b); got != "none" {
				t.Fatalf("after the bucket went: %s", got)
			}
			if err := sa.CreateBucket(ctx, meta.Bucket{Name: "web", Created: second.Add(600 * time.Millisecond)}); err != nil {
				t.Fatal(err)
			}
			if got := origins(b); got != "none" {
				t.Fatalf("a new bucket of the same name has its predecessor's configuration: %s", got)
			}
			if err := a.Set(ctx, "gone", &cors.Config{}); err == nil {
				t.Error("a configuration was set on a missing bucket")
			}
		})
	}
}

// TestServiceConcurrent reads configurations from many goroutines at
// once, as a server's requests do; run under -race it finds any state of
// the Service written without its lock.
func TestServiceConcurrent(t *testing.T) {
	ctx := context.Background()
	s, err := backend.Open(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "web", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	svc := &cors.Service{Store: s.(cors.Store)}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 { // a miss each (missing buckets are cached too)
				if _, err := svc.Config(ctx, fmt.Sprintf("web-%d-%d", g, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
