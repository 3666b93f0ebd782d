package traffic

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
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

type mapStore map[string]string

func (m mapStore) Setting(_ context.Context, n string) (string, error) { return m[n], nil }
func (m mapStore) SetSetting(_ context.Context, n, v string) error     { m[n] = v; return nil }
func (m mapStore) Settings(context.Context) (map[string]string, error) { return m, nil }

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
	st := mapStore{}
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
	if err := a.Save(ctx, mapStore(nil), "a"); err != nil {
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
}

func BenchmarkRecord(b *testing.B) {
	c := New(nil)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Record("nix-cache", 0, 512)
		}
	})
}
