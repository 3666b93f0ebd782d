package traffic

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/sqlite"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countingStore is a real metadata store (SQLite) that counts the rows
// saved.
type countingStore struct {
	*sqlite.Store
	rows int
}

func (s *countingStore) SaveTraffic(ctx context.Context, rows []meta.TrafficHour, oldest int64) error {
	s.rows += len(rows)
	return s.Store.SaveTraffic(ctx, rows, oldest)
}

func newStore(t *testing.T) *countingStore {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &countingStore{Store: s}
}

func TestRecordHoursAndRingWrap(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 10, 30, 0, 0, time.UTC)}
	c := New(clk.now)
	h0 := clk.t.Unix() / 3600
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				c.Record("nix-cache", 10, 100)
			}
		})
	}
	wg.Wait()
	c.Record("", 0, 5)
	got := c.Snapshot()
	if want := (Hour{Requests: 8000, In: 80000, Out: 800000}); got["nix-cache"][h0] != want {
		t.Fatalf("hour %d = %+v, want %+v", h0, got["nix-cache"][h0], want)
	}
	if got[Other][h0].Out != 5 {
		t.Fatalf("a request naming no bucket counts under Other: %+v", got)
	}
	clk.add(time.Hour)
	c.Record("nix-cache", 1, 1)
	got = c.Snapshot()
	if got["nix-cache"][h0+1].Requests != 1 || got["nix-cache"][h0].Requests != 8000 {
		t.Fatalf("next hour: %+v", got["nix-cache"])
	}
	// Seven days later the first hour's slot is reused, not added to.
	clk.add(Hours*time.Hour - time.Hour)
	c.Record("nix-cache", 0, 0)
	got = c.Snapshot()
	if _, ok := got["nix-cache"][h0]; ok {
		t.Fatalf("hour %d older than the ring still shown: %+v", h0, got["nix-cache"])
	}
	if v := got["nix-cache"][h0+Hours]; v.Requests != 1 {
		t.Fatalf("reused slot = %+v, want one request", v)
	}
}

func TestBucketsBounded(t *testing.T) {
	c := New(nil)
	for i := range MaxBuckets + 50 {
		c.Record(fmt.Sprintf("b%d", i), 0, 0)
	}
	got := c.Snapshot()
	if len(got) > MaxBuckets+1 {
		t.Fatalf("%d buckets counted, want at most %d", len(got), MaxBuckets+1)
	}
	var other int64
	for _, v := range got[Other] {
		other += v.Requests
	}
	if other != 50 {
		t.Fatalf("Other counts %d requests, want the 50 past the bound", other)
	}
}

// TestSaveRestoreAndNodesAddUp: a restarted node takes its history back,
// and two nodes' counts add up in Load.
func TestSaveRestoreAndNodesAddUp(t *testing.T) {
	ctx := t.Context()
	clk := &clock{t: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
	st := newStore(t)
	a, b := New(clk.now), New(clk.now)
	a.Record("c", 1, 2)
	b.Record("c", 10, 20)
	b.Record("d", 0, 7)
	for _, n := range []struct {
		c  *Counters
		id string
	}{{a, "a"}, {b, "b"}} {
		if err := n.c.Save(ctx, st, n.id); err != nil {
			t.Fatal(err)
		}
	}
	if st.rows != 3 {
		t.Fatalf("%d rows saved, want 3 (a: c; b: c, d)", st.rows)
	}
	if err := a.Save(ctx, nil, "a"); err != nil {
		t.Fatalf("a save with nothing new must not write: %v", err)
	}
	h := clk.t.Unix() / 3600
	restarted := New(clk.now)
	if err := restarted.RestoreFrom(ctx, st, "a"); err != nil {
		t.Fatal(err)
	}
	restarted.Record("c", 100, 200)
	all, err := restarted.Load(ctx, st, "a")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Hour{Requests: 3, In: 111, Out: 222}); all["c"][h] != want {
		t.Fatalf("c = %+v, want %+v", all["c"][h], want)
	}
	if all["d"][h].Out != 7 {
		t.Fatalf("d = %+v", all["d"])
	}
	// Another node sees the restarted node's new request once it saved.
	if err := restarted.Save(ctx, st, "a"); err != nil {
		t.Fatal(err)
	}
	all, err = b.Load(ctx, st, "b")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Hour{Requests: 3, In: 111, Out: 222}); all["c"][h] != want {
		t.Fatalf("c seen by b = %+v, want %+v", all["c"][h], want)
	}
}

// TestSaveWritesChangedHours: a save writes only the hours that changed
// since the last (the current hour of each bucket in use, not the week),
// and deletes hours older than Keep, of every node.
func TestSaveWritesChangedHours(t *testing.T) {
	ctx := t.Context()
	clk := &clock{t: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
	st := newStore(t)
	c := New(clk.now)
	for range 30 {
		c.Record("c", 1, 1)
		c.Record("d", 1, 1)
		clk.add(time.Hour)
	}
	if err := c.Save(ctx, st, "n"); err != nil {
		t.Fatal(err)
	}
	if st.rows != 60 {
		t.Fatalf("first save wrote %d rows, want 60", st.rows)
	}
	st.rows = 0
	g0, err := st.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Record("c", 1, 1)
	if err := c.Save(ctx, st, "n"); err != nil {
		t.Fatal(err)
	}
	if st.rows != 1 {
		t.Fatalf("second save wrote %d rows, want the one hour that changed", st.rows)
	}
	if g, err := st.Generation(ctx); err != nil || g != g0 {
		t.Fatalf("a save moved the store's generation from %d to %d (%v): caches would reload", g0, g, err)
	}

	// A gone node's rows of 10 days ago go at the next save of any node.
	first := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC).Unix() / 3600
	if err := st.SaveTraffic(ctx, []meta.TrafficHour{{Node: "gone", Bucket: "c", Hour: first, Requests: 1}}, 0); err != nil {
		t.Fatal(err)
	}
	clk.add(10 * 24 * time.Hour)
	c.Record("c", 1, 1)
	if err := c.Save(ctx, st, "n"); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := st.LoadTraffic(ctx, "", 0, func(r meta.TrafficHour) error {
		n++
		if now := clk.now().Unix() / 3600; r.Hour <= now-Keep {
			t.Errorf("hour %d of node %s kept, older than %d hours", r.Hour, r.Node, Keep)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d rows left, want the current hour only", n)
	}
}

func BenchmarkRecord(b *testing.B) {
	c := New(nil)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Record("nix-cache", 0, 512)
		}
	})
}

// TestSince: the hours from a time's hour on are kept, those before go.
func TestSince(t *testing.T) {
	made := time.Date(2026, 1, 1, 10, 30, 0, 0, time.UTC)
	h := made.Unix() / 3600
	hours := map[int64]Hour{h - 2: {Requests: 1}, h - 1: {Requests: 2}, h: {Requests: 3}, h + 5: {Requests: 4}}
	for _, c := range []struct {
		at   time.Time
		want []int64
	}{
		{made, []int64{h, h + 5}},
		{made.Add(-time.Hour), []int64{h - 1, h, h + 5}},
		{made.Add(6 * time.Hour), nil},
		{time.Time{}, []int64{h - 2, h - 1, h, h + 5}},
	} {
		got := Since(hours, c.at)
		if len(got) != len(c.want) {
			t.Errorf("Since(%v): %v, want the hours %v", c.at, got, c.want)
			continue
		}
		for _, w := range c.want {
			if got[w] != hours[w] {
				t.Errorf("Since(%v): hour %d is %v, want %v", c.at, w, got[w], hours[w])
			}
		}
	}
}

// TestIdleBucketsLeave: a bucket without a request for Hours (deleted)
// loses its ring at the next save, and its place under MaxBuckets goes to
// a new bucket instead of Other; a bucket in use keeps its history, and a
// request racing the retirement is counted.
func TestIdleBucketsLeave(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 10, 30, 0, 0, time.UTC)}
	c := New(clk.now)
	st := newStore(t)
	ctx := context.Background()
	for i := range MaxBuckets {
		c.Record(fmt.Sprintf("old%d", i), 0, 0)
	}
	if err := c.Save(ctx, st, "n"); err != nil {
		t.Fatal(err)
	}
	clk.add(Hours * time.Hour)
	c.Record("old0", 0, 0) // still in use
	if err := c.Save(ctx, st, "n"); err != nil {
		t.Fatal(err)
	}
	if n := len(*c.rings.Load()); n != 1 {
		t.Fatalf("%d rings after the others idled for %d hours, want 1", n, Hours)
	}
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() { c.Record(fmt.Sprintf("new%d", i), 0, 0) })
	}
	wg.Wait()
	got := c.Snapshot()
	h := clk.now().Unix() / 3600
	if _, ok := got[Other]; ok || got["new99"][h].Requests != 1 || got["old0"][h].Requests != 1 {
		t.Fatalf("after the idle rings left, new buckets count under their own names: %v", got)
	}
}

// TestRecordWhileRetiring: requests to a ring being retired are counted
// in the ring that replaces it.
func TestRecordWhileRetiring(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 10, 30, 0, 0, time.UTC)}
	c := New(clk.now)
	c.Record("b", 0, 0)
	clk.add(Hours * time.Hour)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 500 {
				c.Record("b", 0, 0)
			}
		})
	}
	for range 50 {
		c.prune()
	}
	wg.Wait()
	if got := c.Snapshot()["b"][clk.now().Unix()/3600].Requests; got != 2000 {
		t.Fatalf("%d requests counted, want 2000", got)
	}
}
