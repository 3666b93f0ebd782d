package server_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestBackendUnreachable: a node on PostgreSQL and an S3 blob store
// answers a request that needs a backend it cannot reach with 503
// ServiceUnavailable naming that backend, over S3 and the binary-cache
// protocol, not with 500 InternalError ("We encountered an internal
// error") that tells neither the client nor its user what failed; and it
// serves again, without a restart, once the backend is back.
func TestBackendUnreachable(t *testing.T) {
	pg, err := url.Parse(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	pgProxy := testenv.NewProxy(t, pg.Host)
	pg.Host = pgProxy.Addr()
	st := testenv.S3Store(t)
	storeBucket := st.NewBucket(t)
	useStoreCredentials(t, st)
	s3Proxy := testenv.NewProxy(t, strings.TrimPrefix(st.Endpoint, "http://"))
	e := newEnv(t, withMeta(pg.String()), withBlobs("s3://"+storeBucket+"/nb?endpoint=http://"+s3Proxy.Addr()))
	b := e.bucket("unreachable")
	big, small := data(1, 300<<10), data(2, 100)
	e.put(b, "big", big)
	e.put(b, "small", small)

	// want checks that every request of reqs is answered 503 naming what.
	want := func(what string, reqs map[string]func() (int, []byte)) {
		t.Helper()
		for name, req := range reqs {
			st, body := req()
			if st != http.StatusServiceUnavailable || !strings.Contains(string(body), "ServiceUnavailable") ||
				!strings.Contains(string(body), what+" is unavailable") {
				t.Errorf("%s with %s cut off: %d %s, want 503 ServiceUnavailable saying %s is unavailable", name, what, st, body, what)
			}
		}
	}
	s3Get := func(key string) func() (int, []byte) {
		return func() (int, []byte) {
			st, _, body := e.signed(http.MethodGet, e.url(b, key), nil, nil)
			return st, body
		}
	}
	plainGet := func(key string) func() (int, []byte) {
		return func() (int, []byte) { return e.plainGet("/"+b+"/"+key, e.id, e.secret) }
	}
	put := func(key string, body []byte) func() (int, []byte) {
		return func() (int, []byte) {
			st, _, b := e.signed(http.MethodPut, e.url(b, key), body, nil)
			return st, b
		}
	}

	wantReady(t, e, "")
	s3Proxy.Cut(true)
	wantReady(t, e, "the blob store")
	want("the blob store", map[string]func() (int, []byte){
		"S3 GET of a blob": s3Get("big"), "binary-cache GET of a blob": plainGet("big"),
		"S3 ranged GET of a blob": func() (int, []byte) {
			st, _, body := e.signed(http.MethodGet, e.url(b, "big"), nil, map[string]string{"Range": "bytes=1000-1999"})
			return st, body
		},
		"S3 PUT of a blob": put("big2", big),
	})
	s3Proxy.Cut(false)
	wantReady(t, e, "")
	if got := e.get(b, "big"); string(got) != string(big) {
		t.Fatalf("GET big once the blob store is back: %d bytes, want %d", len(got), len(big))
	}

	pgProxy.Cut(true)
	// Until the node's listener has noticed, it may answer small from
	// memory, rightly: nothing can have changed it unheard.
	for i := 0; ; i++ {
		st, body := s3Get("small")()
		if st != http.StatusOK {
			break
		}
		if i == 10000 {
			t.Fatalf("GET small still answered %d %q with PostgreSQL cut off", st, body)
		}
	}
	wantReady(t, e, "the metadata store")
	want("the metadata store", map[string]func() (int, []byte){
		"S3 GET": s3Get("small"), "binary-cache GET": plainGet("small"),
		"S3 PUT": put("small2", small),
	})
	if m := e.scrape(); m["nixbucket_meta_listener_up"] != 0 || m["nixbucket_meta_listener_lost_total"] < 1 {
		t.Errorf("metrics with PostgreSQL cut off: nixbucket_meta_listener_up %v, nixbucket_meta_listener_lost_total %v; want 0 and at least 1",
			m["nixbucket_meta_listener_up"], m["nixbucket_meta_listener_lost_total"])
	}
	pgProxy.Cut(false)
	for i := 0; ; i++ {
		st, body := s3Get("small")()
		if st == http.StatusOK {
			break
		}
		if i == 1000 {
			t.Fatalf("GET small once PostgreSQL is back: %d %s, want 200", st, body)
		}
	}
	e.put(b, "small3", small)
	waitMetric(t, e, "nixbucket_meta_listener_up", 1)

	// Paused: the connections stay open, and nothing answers.
	pgProxy.Stall(true)
	waitMetric(t, e, "nixbucket_meta_answering", 0)
	wantReady(t, e, "the metadata store")
	pgProxy.Stall(false)
	waitMetric(t, e, "nixbucket_meta_answering", 1)
	waitMetric(t, e, "nixbucket_meta_listener_up", 1)
	wantReady(t, e, "")
	e.rec.take5xx()
}

// wantReady checks GET /-/ready: 200 "ready" when unavailable is "",
// else 503 naming it; /-/health stays 200 either way.
func wantReady(t *testing.T, e *env, unavailable string) {
	t.Helper()
	st, body := e.plainGet("/-/ready", "", "")
	if unavailable == "" {
		if st != http.StatusOK || string(body) != "ready\n" {
			t.Errorf("GET /-/ready: %d %q, want 200 ready", st, body)
		}
	} else if st != http.StatusServiceUnavailable || string(body) != "not ready: "+unavailable+" is unavailable\n" {
		t.Errorf("GET /-/ready with %s cut off: %d %q, want 503 naming it", unavailable, st, body)
	}
	if st, body := e.plainGet("/-/health", "", ""); st != http.StatusOK {
		t.Errorf("GET /-/health: %d %q, want 200", st, body)
	}
}

// waitMetric waits until the sample name of /-/metrics is v.
func waitMetric(t *testing.T, e *env, name string, v float64) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, ok := e.scrape()[name]
		if ok && got == v {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %v (present: %v), want %v", name, got, ok, v)
		}
	}
}

// TestBlobStoreCutMidBody: a GET whose blob the store stops sending in the
// middle is cut short for the client (an error, never a complete 200),
// and the log says the store broke the read off, which the access log's
// 200 alone does not.
func TestBlobStoreCutMidBody(t *testing.T) {
	var logged testenv.LogBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	st := testenv.S3Store(t)
	storeBucket := st.NewBucket(t)
	useStoreCredentials(t, st)
	proxy := testenv.NewProxy(t, strings.TrimPrefix(st.Endpoint, "http://"))
	e := newEnv(t, withBlobs("s3://"+storeBucket+"/nb?endpoint=http://"+proxy.Addr()))
	b := e.bucket("cut")
	body := data(1, 64<<20) // more than the sockets between hold
	e.put(b, "big", body)

	r := e.request(http.MethodGet, e.url(b, "big"), nil)
	e.signBody(r, nil)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET big: %s", resp.Status)
	}
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	proxy.Cut(true)
	rest, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("GET big with the store cut off in the middle: a complete body of %d bytes, want an error", len(head)+len(rest))
	}
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logged.String(), "blob store: a read was cut off"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the client's body was cut (%v) and the log does not say the store broke the read off:\n%s", err, logged.String())
		}
	}
}
