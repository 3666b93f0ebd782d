package gc

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// hashOf is a 32-character store path hash for a name.
func hashOf(name string) string {
	s := sha256.Sum256([]byte(name))
	return hex.EncodeToString(s[:16])
}

// spec is a path of a test graph: name, age of its last use, references.
type spec struct {
	name string
	age  time.Duration // since created and last used
	size int64
	refs []string
}

func buildGraph(t *testing.T, specs []spec) *graph {
	t.Helper()
	g := newGraph(0, 0)
	for _, s := range specs {
		e := meta.NarinfoEdge{Hash: hashOf(s.name), URL: "nar/" + s.name + ".nar", FileSize: s.size,
			Created: t0.Add(-s.age), LastAccess: t0.Add(-s.age)}
		for _, r := range s.refs {
			e.References = append(e.References, hashOf(r)+"-"+r)
		}
		e.References = append(e.References, hashOf(s.name)+"-"+s.name) // self
		if err := g.add(e); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

func keptNames(g *graph, specs []spec) []string {
	var out []string
	for _, s := range specs {
		if id := g.lookup(hashOf(s.name)); id >= 0 && g.is(id, fKept) {
			out = append(out, s.name)
		}
	}
	return out
}

const day = 24 * time.Hour

func TestPlan(t *testing.T) {
	// Three generations of a system sharing glibc; gen1 and gen2 also
	// share an old tool; each has a unique lib.
	gens := []spec{
		{name: "glibc", age: 90 * day, size: 100},
		{name: "tool", age: 90 * day, size: 10},
		{name: "lib1", age: 60 * day, size: 50, refs: []string{"glibc"}},
		{name: "gen1", age: 60 * day, size: 5, refs: []string{"lib1", "tool", "glibc"}},
		{name: "lib2", age: 40 * day, size: 50, refs: []string{"glibc"}},
		{name: "gen2", age: 40 * day, size: 5, refs: []string{"lib2", "tool"}},
		{name: "lib3", age: 2 * day, size: 50, refs: []string{"glibc"}},
		{name: "gen3", age: 2 * day, size: 5, refs: []string{"lib3"}},
	}
	all := func() []string {
		var n []string
		for _, s := range gens {
			n = append(n, s.name)
		}
		return n
	}()
	tests := []struct {
		name      string
		specs     []spec
		ret       meta.Retention
		pins      []string
		total     int64
		want      []string
		oversize  []string
		projected int64
	}{
		{name: "no limits keep everything", specs: gens, ret: meta.Retention{Grace: time.Hour}, want: all},
		{name: "keep-days keeps the closure of recent paths", specs: gens,
			ret:  meta.Retention{KeepDays: 30, Grace: time.Hour},
			want: []string{"glibc", "lib3", "gen3"}},
		{name: "keep-days 50 keeps gen2 and the old tool it needs", specs: gens,
			ret:  meta.Retention{KeepDays: 50, Grace: time.Hour},
			want: []string{"glibc", "tool", "lib2", "gen2", "lib3", "gen3"}},
		{name: "a pin keeps an old closure", specs: gens, pins: []string{"gen1"},
			ret:  meta.Retention{KeepDays: 30, Grace: time.Hour},
			want: []string{"glibc", "tool", "lib1", "gen1", "lib3", "gen3"}},
		{name: "grace keeps a young path", specs: append(slices.Clone(gens), spec{name: "inflight", age: time.Minute, refs: []string{"lib1"}}),
			ret:  meta.Retention{KeepDays: 30, Grace: time.Hour},
			want: []string{"glibc", "lib1", "lib3", "gen3", "inflight"}},
		{name: "max-size evicts the least recently used root and what only it keeps", specs: gens,
			ret: meta.Retention{MaxSize: 220, Grace: time.Hour}, total: 275,
			// gen1 goes first (oldest root), then lib1 is a root with
			// no referrer, and older than gen2: it goes next: 275-5-50 = 220.
			want:     []string{"glibc", "tool", "lib2", "gen2", "lib3", "gen3"},
			oversize: []string{"lib1", "gen1"}, projected: 220},
		{name: "max-size never removes a shared dependency of a kept path", specs: gens,
			ret: meta.Retention{MaxSize: 1, Grace: time.Hour}, total: 275, pins: []string{"gen3"},
			want:     []string{"glibc", "lib3", "gen3"},
			oversize: []string{"tool", "lib1", "gen1", "lib2", "gen2"}, projected: 155},
		{name: "max-size with keep-days evicts among the recent", specs: gens,
			ret: meta.Retention{KeepDays: 50, MaxSize: 160, Grace: time.Hour}, total: 275,
			// stale: gen1, lib1 (55) → 220; evict gen2 (5), then lib2 (50)
			// and tool (10), kept only by gen2 → 155.
			want:     []string{"glibc", "lib3", "gen3"},
			oversize: []string{"tool", "lib2", "gen2"}, projected: 155},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := buildGraph(t, tc.specs)
			p := policy{now: t0, ret: tc.ret, total: tc.total}
			for _, n := range tc.pins {
				p.pinned = append(p.pinned, g.lookup(hashOf(n)))
			}
			projected := g.plan(p)
			if got := keptNames(g, tc.specs); !slices.Equal(got, tc.want) {
				t.Errorf("kept %v, want %v", got, tc.want)
			}
			var over []string
			for _, s := range tc.specs {
				if g.is(g.lookup(hashOf(s.name)), fOverSize) {
					over = append(over, s.name)
				}
			}
			if !slices.Equal(over, tc.oversize) {
				t.Errorf("evicted for size %v, want %v", over, tc.oversize)
			}
			if tc.total > 0 && projected != tc.projected {
				t.Errorf("projected %d bytes, want %d", projected, tc.projected)
			}
			checkClosed(t, g)
		})
	}
}

// checkClosed fails if a kept path references a present path not kept.
func checkClosed(t *testing.T, g *graph) {
	t.Helper()
	for id := range int32(g.len()) {
		if !g.is(id, fKept) {
			continue
		}
		for _, r := range g.refsOf(id) {
			if g.is(r, fPresent) && !g.is(r, fKept) {
				t.Errorf("kept %s references %s, which goes", g.hash(id), g.hash(r))
			}
		}
	}
}

func TestDeletionOrder(t *testing.T) {
	// a → b → c → d, a → d, e → c; all stale.
	specs := []spec{
		{name: "d", age: 99 * day},
		{name: "c", age: 99 * day, refs: []string{"d"}},
		{name: "b", age: 99 * day, refs: []string{"c"}},
		{name: "a", age: 99 * day, refs: []string{"b", "d"}},
		{name: "e", age: 99 * day, refs: []string{"c"}},
		{name: "kept", age: day, refs: []string{"x-missing"}},
	}
	g := buildGraph(t, specs)
	g.plan(policy{now: t0, ret: meta.Retention{KeepDays: 7, Grace: time.Hour}})
	order, levels := g.deletionOrder()
	if len(order) != 5 {
		t.Fatalf("order has %d paths, want 5", len(order))
	}
	level := map[int32]int{}
	start := 0
	for l, end := range levels {
		for _, id := range order[start:end] {
			level[id] = l
		}
		start = end
	}
	for _, id := range order {
		for _, r := range g.refsOf(id) {
			if g.is(r, fPresent) && level[r] <= level[id] {
				t.Errorf("%s (level %d) references %s (level %d): a reference must go in a later level",
					g.hash(id), level[id], g.hash(r), level[r])
			}
		}
	}
}
