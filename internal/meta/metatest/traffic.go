package metatest

import (
	"errors"
	"reflect"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// loadTraffic returns LoadTraffic's rows, failing the test on an error.
func loadTraffic(t *testing.T, s meta.Store, node string, since int64) []meta.TrafficHour {
	t.Helper()
	var got []meta.TrafficHour
	if err := s.LoadTraffic(t.Context(), node, since, func(r meta.TrafficHour) error {
		got = append(got, r)
		return nil
	}); err != nil {
		t.Fatalf("LoadTraffic(%q, %d): %v", node, since, err)
	}
	return got
}

func wantTraffic(t *testing.T, what string, got, want []meta.TrafficHour) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// mustGeneration returns s's generation, failing the test on an error.
func mustGeneration(t *testing.T, s meta.Store) uint64 {
	t.Helper()
	g, err := s.Generation(t.Context())
	if err != nil {
		t.Fatalf("Generation: %v", err)
	}
	return g
}

// testTraffic: rows are set (not added to) per node, bucket and hour, read
// back in order, by node and from an hour on; a save deletes every node's
// hours before its oldest; and no save moves the generation.
func testTraffic(t *testing.T, s meta.Store) {
	ctx := t.Context()
	const h = 500000 // an hour in 2027
	row := func(node, bucket string, hour, n int64) meta.TrafficHour {
		return meta.TrafficHour{Node: node, Bucket: bucket, Hour: hour, Requests: n, BytesIn: 10 * n, BytesOut: 1 << 40}
	}
	g0 := mustGeneration(t, s)
	wantTraffic(t, "empty store", loadTraffic(t, s, "", 0), nil)

	if err := s.SaveTraffic(ctx, []meta.TrafficHour{
		row("n2", "b", h, 5), row("n1", "b", h+1, 2), row("n1", "b", h, 1), row("n1", "a", h, 3),
		row("n1", "(other)", h-100, 4),
	}, h-200); err != nil {
		t.Fatalf("SaveTraffic: %v", err)
	}
	wantTraffic(t, "every node", loadTraffic(t, s, "", 0), []meta.TrafficHour{
		row("n1", "(other)", h-100, 4), row("n1", "a", h, 3), row("n1", "b", h, 1), row("n1", "b", h+1, 2), row("n2", "b", h, 5),
	})
	wantTraffic(t, "node n2", loadTraffic(t, s, "n2", 0), []meta.TrafficHour{row("n2", "b", h, 5)})
	wantTraffic(t, "node n3", loadTraffic(t, s, "n3", 0), nil)
	wantTraffic(t, "n1 from hour h+1", loadTraffic(t, s, "n1", h+1), []meta.TrafficHour{row("n1", "b", h+1, 2)})

	// A second save of an hour replaces its counts; other rows stay.
	if err := s.SaveTraffic(ctx, []meta.TrafficHour{row("n1", "b", h+1, 7)}, h-200); err != nil {
		t.Fatalf("SaveTraffic again: %v", err)
	}
	wantTraffic(t, "n1 after the second save", loadTraffic(t, s, "n1", h), []meta.TrafficHour{
		row("n1", "a", h, 3), row("n1", "b", h, 1), row("n1", "b", h+1, 7),
	})

	// A save, even of no rows, deletes every node's hours before oldest.
	if err := s.SaveTraffic(ctx, nil, h); err != nil {
		t.Fatalf("SaveTraffic of no rows: %v", err)
	}
	if got := loadTraffic(t, s, "", 0); len(got) != 4 || got[0].Hour != h {
		t.Fatalf("after expiring hours before %d: %+v", h, got)
	}

	errStop := errors.New("stop")
	calls := 0
	err := s.LoadTraffic(ctx, "", 0, func(meta.TrafficHour) error { calls++; return errStop })
	if !errors.Is(err, errStop) || calls != 1 {
		t.Fatalf("LoadTraffic with fn failing: %v after %d calls, want errStop after 1", err, calls)
	}

	if g := mustGeneration(t, s); g != g0 {
		t.Fatalf("traffic saves moved the generation from %d to %d: every cache of the read path would reload", g0, g)
	}
}

// testTrafficShared: what one instance saves another loads, and neither
// instance's generation moves (on PostgreSQL: no notification to the
// other nodes either).
func testTrafficShared(t *testing.T, s meta.Store, reopen Reopen) {
	ctx := t.Context()
	s2 := reopen(t)
	g1, g2 := mustGeneration(t, s), mustGeneration(t, s2)
	rows := []meta.TrafficHour{{Node: "n1", Bucket: "nix-cache", Hour: 490000, Requests: 1, BytesIn: 2, BytesOut: 3}}
	if err := s.SaveTraffic(ctx, rows, 0); err != nil {
		t.Fatalf("SaveTraffic: %v", err)
	}
	wantTraffic(t, "through the other instance", loadTraffic(t, s2, "", 0), rows)
	rows[0].Requests = 9
	if err := s2.SaveTraffic(ctx, rows, 0); err != nil {
		t.Fatalf("SaveTraffic through the other instance: %v", err)
	}
	wantTraffic(t, "back through the first", loadTraffic(t, s, "n1", 0), rows)
	// A change announced afterwards is seen through both, so a generation
	// left alone above is not one that never moves.
	if err := s.SetSetting(ctx, "account", "123456789012"); err != nil {
		t.Fatal(err)
	}
	if a, b := mustGeneration(t, s), mustGeneration(t, s2); a == g1 || b == g2 {
		t.Fatalf("generations %d, %d after SetSetting, were %d, %d: want both moved", a, b, g1, g2)
	}
	if err := s.SaveTraffic(ctx, rows, 0); err != nil {
		t.Fatal(err)
	}
	g1, g2 = mustGeneration(t, s), mustGeneration(t, s2)
	for range 3 {
		if err := s2.SaveTraffic(ctx, rows, 0); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveTraffic(ctx, rows, 0); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := mustGeneration(t, s), mustGeneration(t, s2); a != g1 || b != g2 {
		t.Fatalf("traffic saves moved the generations from %d, %d to %d, %d", g1, g2, a, b)
	}
}
