package gc

import (
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// pull stores the narinfos of paths as a pull-through bucket stores what
// it takes from an upstream (objects.PutVouched), at their age before the
// clock, without their NARs or listings: the NARs are still upstream.
func (c *cache) pull(specs ...spec) {
	c.t.Helper()
	now := c.now
	for _, s := range specs {
		c.now = now.Add(-s.age)
		h := hashOf(s.name)
		rec := &meta.Narinfo{Bucket: bucket, Hash: h, StorePath: "/nix/store/" + h + "-" + s.name, URL: "nar/" + s.name + ".nar",
			Compression: "none", FileSize: narSize, NarSize: narSize, Created: c.now, LastAccess: c.now}
		for _, r := range s.refs {
			rec.References = append(rec.References, hashOf(r)+"-"+r)
		}
		if _, err := c.svc.PutVouched(c.t.Context(), bucket, h+".narinfo", meta.Headers{ContentType: "text/x-nix-narinfo"},
			[]byte("StorePath: "+rec.StorePath+"\n"), rec, objects.Conditions{}); err != nil {
			c.t.Fatalf("pull %s: %v", s.name, err)
		}
	}
	c.now = now
}

// TestCollectPulled: paths a pull-through bucket pulled whose NARs are
// still upstream are collected under retention like any path, their
// absent NARs failing nothing, and count no NAR bytes: max-size evicts
// by what is stored.
func TestCollectPulled(t *testing.T) {
	c := newCache(t)
	c.push(generations...)
	pulled := []spec{
		{name: "pulled-old", age: 60 * day, refs: []string{"glibc"}},
		{name: "pulled-new", age: 2 * day, refs: []string{"lib3"}},
	}
	c.pull(pulled...)
	rep := c.run(meta.Retention{KeepDays: 30, Grace: time.Hour}, false)
	c.checkPaths(generations, "glibc", "lib3", "gen3")
	if c.has(hashOf("pulled-old")+".narinfo") || !c.has(hashOf("pulled-new")+".narinfo") {
		t.Errorf("pulled narinfos: old present %v, new present %v; want false, true",
			c.has(hashOf("pulled-old")+".narinfo"), c.has(hashOf("pulled-new")+".narinfo"))
	}
	if st := rep.Removed[Stale]; st.Paths != 6 || st.NARs != 5 {
		t.Errorf("removed %+v, want 6 stale paths and the 5 NARs stored", st)
	}

	// Max-size: 20 pulled paths, used long ago, hold only their narinfos;
	// room for the bucket less one stored path's NAR evicts stored bytes,
	// not narinfos counted at their NARs' FileSize.
	c = newCache(t)
	c.push(generations...)
	var many []spec
	for i := range 20 {
		many = append(many, spec{name: "pulled-" + string(rune('a'+i)), age: 100 * day, refs: []string{"glibc"}})
	}
	c.pull(many...)
	total := c.run(meta.Retention{Grace: time.Hour}, true).Bytes
	rep = c.run(meta.Retention{MaxSize: total - narSize, Grace: time.Hour}, false)
	if rep.Projected > total-narSize {
		t.Errorf("projected %d bytes, over max-size %d", rep.Projected, total-narSize)
	}
	if f := rep.Removed[OverSize]; f.NARs < 1 {
		t.Errorf("removed over max-size %+v: no stored NAR, though only NARs free enough", f)
	}
}
