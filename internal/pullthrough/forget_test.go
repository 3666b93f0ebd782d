package pullthrough

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/sqlite"
)

// TestForgetGone: a deleted pull-through bucket's fetcher, and with it
// its upstream counters in Stats (the metrics' label sets), goes at
// ForgetGone; the fetchers of the buckets that exist stay.
func TestForgetGone(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := &Service{Store: st, TempDir: t.TempDir()}
	cs := meta.DefaultCacheSettings
	cs.Upstreams = "http://127.0.0.1:9/" // never asked: only the fetchers are made
	for _, b := range []string{"keep", "gone"} {
		if err := st.CreateBucket(ctx, meta.Bucket{Name: b}); err != nil {
			t.Fatal(err)
		}
		if err := st.SetCacheSettings(ctx, b, cs); err != nil {
			t.Fatal(err)
		}
		if !s.Enabled(ctx, b) {
			t.Fatalf("%s does not pull through", b)
		}
	}
	if err := st.DeleteBucket(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	s.ForgetGone(func(b string) bool { return b == "keep" })
	stats := s.Stats()
	if _, ok := stats["gone"]; ok || len(stats) != 1 {
		t.Errorf("upstream stats after ForgetGone: %v, want keep's alone", stats)
	}
	if !s.Enabled(ctx, "keep") {
		t.Error("keep no longer pulls through")
	}
}
