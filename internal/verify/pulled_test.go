package verify_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/postgres"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/testenv"
	"github.com/nixbucket/nixbucket/internal/verify"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

// eachStore runs fn on a fresh env over SQLite, then over PostgreSQL:
// the pulled mark is an object note, which both stores must keep.
func eachStore(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newEnv(t)) })
	t.Run("postgres", func(t *testing.T) {
		url := testenv.Postgres(t)
		store, err := postgres.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		fn(t, newEnvOver(t, t.TempDir(), store))
	})
}

// pull turns a stored path into one a pull-through bucket pulled: its
// narinfo stored by objects.PutVouched, as internal/pullthrough stores
// it, and its NAR not fetched yet unless keepNAR.
func (e *env) pull(n meta.Narinfo, keepNAR bool) {
	t := e.t
	if !keepNAR {
		if err := e.objs.Delete(t.Context(), bucket, n.URL, objects.Conditions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.objs.PutVouched(t.Context(), bucket, n.Hash+".narinfo", meta.Headers{ContentType: "text/x-nix-narinfo"},
		[]byte("StorePath: "+n.StorePath+"\n"), &n, objects.Conditions{}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) setUpstreams(urls string) {
	cs := meta.DefaultCacheSettings
	cs.Upstreams = urls
	if err := e.store.SetCacheSettings(e.t.Context(), bucket, cs); err != nil {
		e.t.Fatal(err)
	}
}

// TestPulledNARNotFetched: in a pull-through bucket, a pulled narinfo
// whose NAR is still upstream only, or whose references are not pulled
// yet, is counted apart and is no problem, and Repair leaves it; a
// pulled NAR stored wrong, and a pushed narinfo that lost its NAR, are
// problems still. Once the bucket has no upstreams, nothing can fetch
// the NAR: then it is missing.
func TestPulledNARNotFetched(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ps := e.closure() // libc ← lib ← app, tool → libc
		e.setUpstreams("https://cache.example.org")
		// app and lib pulled, NARs upstream only; sub pulled, its
		// reference "dep" not pulled yet.
		e.pull(ps["lib"], false)
		e.pull(ps["app"], false)
		sub := e.add(path{name: "sub", refs: []string{"dep"}})
		e.pull(sub, false)
		// A pulled NAR stored with other bytes is broken.
		wrong := e.add(path{name: "wrong", refs: []string{"libc"}})
		e.pull(wrong, true)
		f := e.blobFile(wrong.URL)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b[10] ^= 0xff
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		// A pushed path whose NAR was lost is broken too.
		if err := e.objs.Delete(t.Context(), bucket, ps["tool"].URL, objects.Conditions{}); err != nil {
			t.Fatal(err)
		}

		r := e.check(false)
		wantCounts(t, r, map[verify.Kind]int{verify.BadFileHash: 1, verify.MissingNAR: 1})
		if r.Pending != 3 || r.PendingRefs != 1 {
			t.Errorf("pending %d NARs, %d references; want 3, 1 (%q, %q)", r.Pending, r.PendingRefs, r.PendingExamples, r.PendingRefExamples)
		}
		if ex := r.Examples[verify.MissingNAR]; len(ex) != 1 || !strings.Contains(ex[0], ps["tool"].StorePath) {
			t.Errorf("missing NAR examples %q, want tool's only", ex)
		}
		if ex := r.PendingRefExamples; len(ex) != 1 || !strings.Contains(ex[0], "/nix/store/"+base("dep")+" not in the bucket") {
			t.Errorf("pending reference examples %q, want sub's dep", ex)
		}
		rm, err := e.checker(false).Repair(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		got := append(slices.Clone(rm.Broken), rm.Referrers...)
		slices.Sort(got)
		want := []string{ps["tool"].StorePath, wrong.StorePath}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("repair removed %v, want only tool and wrong", got)
		}
		for _, n := range []meta.Narinfo{ps["lib"], ps["app"], sub, ps["libc"]} {
			if _, err := e.store.Narinfo(t.Context(), bucket, n.Hash); err != nil {
				t.Errorf("%s after repair: %v, want it kept", n.StorePath, err)
			}
		}
		after := e.check(false)
		wantCounts(t, after, nil)
		if after.Pending != 3 {
			t.Errorf("after repair: %d pending, want 3", after.Pending)
		}

		// A push of the same path replaces the pulled narinfo: its NAR
		// is then the pusher's to upload, and missing.
		e.putNarinfo(ps["lib"])
		// Without upstreams the pulled NARs are missing for good.
		r = e.check(false)
		wantCounts(t, r, map[verify.Kind]int{verify.MissingNAR: 1})
		e.setUpstreams("")
		r = e.check(false)
		wantCounts(t, r, map[verify.Kind]int{verify.MissingNAR: 3, verify.MissingReference: 1})
		if r.Pending != 0 || r.PendingRefs != 0 {
			t.Errorf("without upstreams: %d, %d pending, want none", r.Pending, r.PendingRefs)
		}
	})
}
