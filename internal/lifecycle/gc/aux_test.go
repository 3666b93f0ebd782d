package gc

import (
	"bytes"
	"time"

	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// putBody writes key with body at the cache's clock minus age.
func (c *cache) putBody(key, body string, age time.Duration) {
	c.t.Helper()
	now := c.now
	c.now = now.Add(-age)
	defer func() { c.now = now }()
	if _, err := c.svc.Put(c.t.Context(), objects.PutInput{Bucket: bucket, Key: key, Body: bytes.NewReader([]byte(body)), Size: int64(len(body))}); err != nil {
		c.t.Fatalf("put %s: %v", key, err)
	}
}

// TestCollectAux checks that a debuginfo entry goes with the NAR it names
// and a realisation with the path it names, that both go as orphans when
// what they name is not in the bucket, and that young entries, entries
// of kept paths and entries that do not parse stay.
func TestCollectAux(t *testing.T) {
	c := newCache(t)
	c.push(generations...)
	debug := func(id string) string { return "debuginfo/" + id + ".debug" }
	real := func(name string) string { return "realisations/sha256:" + name + "!out.doi" }
	old := 100 * day
	for _, s := range generations {
		c.putBody(debug(s.name), `{"archive":"../nar/`+s.name+`.nar","member":"lib/debug/.build-id/x/y.debug"}`, old)
		c.putBody(real(s.name), `{"id":"x","outPath":"`+hashOf(s.name)+"-"+s.name+`","signatures":[],"dependentRealisations":{}}`, old)
	}
	c.putBody(debug("orphan"), `{"archive":"../nar/gone.nar","member":"m"}`, old)
	c.putBody(real("orphan"), `{"outPath":"/nix/store/`+hashOf("gone")+`-gone"}`, old)
	c.putBody(debug("young"), `{"archive":"../nar/inflight.nar","member":"m"}`, 0) // a push in flight
	c.putBody(debug("garbled"), `not json`, old)

	rep := c.run(meta.Retention{KeepDays: 30, Grace: time.Hour}, false)
	c.checkPaths(generations, "glibc", "lib3", "gen3")
	for _, s := range generations {
		kept := s.name == "glibc" || s.name == "lib3" || s.name == "gen3"
		for _, k := range []string{debug(s.name), real(s.name)} {
			if c.has(k) != kept {
				t.Errorf("%s of path %s: present %v, want %v", k, s.name, !kept, kept)
			}
		}
	}
	for k, want := range map[string]bool{debug("orphan"): false, real("orphan"): false, debug("young"): true, debug("garbled"): true} {
		if c.has(k) != want {
			t.Errorf("%s: present %v, want %v", k, !want, want)
		}
	}
	// Their bodies are inline: the scans bring them, one GET each is not
	// needed.
	if n := c.gets.Load(); n != 0 {
		t.Errorf("the run read %d objects one at a time, want none", n)
	}
	if st, or := rep.Removed[Stale], rep.Removed[Orphan]; st.Aux != 10 || or.Aux != 2 {
		t.Errorf("removed %d stale and %d orphan debuginfo entries and realisations, want 10 and 2", st.Aux, or.Aux)
	}
	t.Log("\n" + rep.String())
}

// TestCollectMaxSizeCountsAux: max-size counts the bytes of debuginfo
// entries and realisations, each with the path it names, and the plan's
// projection is what the bucket holds after the run.
func TestCollectMaxSizeCountsAux(t *testing.T) {
	c := newCache(t)
	c.push(generations...)
	old := 100 * day
	for _, s := range generations {
		c.putBody("debuginfo/"+s.name+".debug", `{"archive":"../nar/`+s.name+`.nar","member":"lib/debug/.build-id/x/y.debug"}`, old)
		c.putBody("realisations/sha256:"+s.name+"!out.doi", `{"id":"x","outPath":"`+hashOf(s.name)+"-"+s.name+`","signatures":[],"dependentRealisations":{}}`, old)
	}
	stored := func() (n int64) {
		objs, err := c.store.ScanObjects(t.Context(), meta.ScanQuery{Bucket: bucket})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			n += o.Size
		}
		return n
	}
	r := meta.Retention{Grace: time.Hour}
	total := stored()
	if got := c.run(r, true).Bytes; got != total {
		t.Fatalf("gc counts %d bytes in the bucket, which stores %d", got, total)
	}
	// One byte over: the least recently used root goes (gen1), with its
	// debuginfo entry and realisation.
	r.MaxSize = total - 1
	rep := c.run(r, false)
	c.checkPaths(generations, "glibc", "tool", "lib1", "lib2", "gen2", "lib3", "gen3")
	if f := rep.Removed[OverSize]; f.Paths != 1 || f.Aux != 2 {
		t.Errorf("removed over max-size %+v, want 1 path and 2 debuginfo entries and realisations", f)
	}
	if got := stored(); got != rep.Projected || got > r.MaxSize {
		t.Errorf("the bucket stores %d bytes after the run; the plan projected %d, max-size %d", got, rep.Projected, r.MaxSize)
	}
}
