package gc

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/sqlite"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/storage/localfs"
)

const bucket = "cache"

// cache is a real store (SQLite and blobs on disk) with a clock.
type cache struct {
	t     *testing.T
	store *sqlite.Store
	blobs *localfs.Backend
	svc   *objects.Service
	now   time.Time
	// deleted records the collector's deletes in order.
	mu      sync.Mutex
	deleted []string
	gets    atomic.Int64 // the collector's reads of single objects
	// beforeDelete, if set, runs before each of the collector's deletes.
	beforeDelete func(key string)
}

func newCache(t *testing.T) *cache {
	t.Helper()
	dir := t.TempDir()
	blobs, err := localfs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	store, err := sqlite.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	c := &cache{t: t, store: store, blobs: blobs, now: t0}
	c.svc = &objects.Service{Meta: store, Blobs: blobs, Now: func() time.Time { return c.now }}
	if err := c.svc.CreateBucket(t.Context(), bucket); err != nil {
		t.Fatal(err)
	}
	return c
}

// Delete records and forwards the collector's deletes.
func (c *cache) Delete(ctx context.Context, b, key string, cond objects.Conditions) error {
	if c.beforeDelete != nil {
		c.beforeDelete(key)
	}
	err := c.svc.Delete(ctx, b, key, cond)
	if err == nil {
		c.mu.Lock()
		c.deleted = append(c.deleted, key)
		c.mu.Unlock()
	}
	return err
}

// Get reads through the object core.
func (c *cache) Get(ctx context.Context, b, key string) (meta.Object, *objects.Reader, error) {
	c.gets.Add(1)
	return c.svc.Get(ctx, b, key)
}

func (c *cache) put(key string, size int) {
	c.t.Helper()
	body := bytes.Repeat([]byte{'x'}, size)
	if _, err := c.svc.Put(c.t.Context(), objects.PutInput{Bucket: bucket, Key: key, Body: bytes.NewReader(body), Size: int64(size)}); err != nil {
		c.t.Fatalf("put %s: %v", key, err)
	}
}

// narSize is past objects.InlineMax, so NARs are blobs on disk.
const narSize = objects.InlineMax + 1000

// uploadFiles uploads what Nix uploads before a path's narinfo: its
// listing, NAR and build log.
func (c *cache) uploadFiles(s spec) {
	c.put(hashOf(s.name)+".ls", 100)
	c.put("nar/"+s.name+".nar", narSize)
	c.put("log/"+hashOf("drv-"+s.name)+"-"+s.name+".drv", 200)
}

// uploadNarinfo writes the path's narinfo, indexed, created and last
// used at the cache's clock.
func (c *cache) uploadNarinfo(s spec) {
	c.t.Helper()
	if err := c.putNarinfo(s); err != nil {
		c.t.Fatalf("put narinfo of %s: %v", s.name, err)
	}
}

// putNarinfo is uploadNarinfo, returning the store's answer.
func (c *cache) putNarinfo(s spec) error {
	h := hashOf(s.name)
	rec := &meta.Narinfo{Hash: h, StorePath: "/nix/store/" + h + "-" + s.name, URL: "nar/" + s.name + ".nar",
		Compression: "none", FileSize: narSize, NarSize: narSize, Deriver: hashOf("drv-"+s.name) + "-" + s.name + ".drv",
		Created: c.now, LastAccess: c.now, NARChecked: true} // as binarycache's hook sends it
	for _, r := range s.refs {
		rec.References = append(rec.References, hashOf(r)+"-"+r)
	}
	data := []byte("StorePath: " + rec.StorePath + "\n")
	obj := meta.Object{Bucket: bucket, Key: h + ".narinfo", Size: int64(len(data)), Modified: c.now,
		Segments: []meta.Segment{{Size: int64(len(data)), Data: data}}, Narinfo: rec}
	_, err := c.store.PutObject(c.t.Context(), obj, nil)
	return err
}

// push uploads paths as Nix does, at their age before the clock.
func (c *cache) push(specs ...spec) {
	now := c.now
	for _, s := range specs {
		c.now = now.Add(-s.age)
		c.uploadFiles(s)
		c.uploadNarinfo(s)
	}
	c.now = now
}

// pushAt has the run push s (its files, then its narinfo), a second
// later on the clock, when it first reports phase; the function returned
// reports whether it did.
func (c *cache) pushAt(col *Collector, phase string, s spec) func() bool {
	pushed := false
	col.Progress = func(p string, _, _ int) {
		if p == phase && !pushed {
			pushed = true
			c.now = c.now.Add(time.Second)
			c.uploadFiles(s)
			c.uploadNarinfo(s)
		}
	}
	return func() bool { return pushed }
}

func (c *cache) collector() *Collector {
	return &Collector{Meta: c.store, Objects: c, Now: func() time.Time { return c.now }, Batch: 3, Workers: 2}
}

func (c *cache) run(r meta.Retention, dryRun bool) Report {
	c.t.Helper()
	rep, err := c.collector().Run(c.t.Context(), bucket, r, dryRun)
	if err != nil {
		c.t.Fatalf("gc: %v", err)
	}
	c.checkInvariant()
	return rep
}

func (c *cache) checkInvariant() {
	c.t.Helper()
	broken, err := Broken(c.t.Context(), c.store, c.blobs, bucket, 10)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, b := range broken {
		c.t.Errorf("invariant broken: %s", b)
	}
}

func (c *cache) has(key string) bool {
	_, err := c.store.Object(c.t.Context(), bucket, key)
	return err == nil
}

// checkPaths fails unless exactly the named paths keep their narinfo,
// NAR and listing, and the others have none.
func (c *cache) checkPaths(specs []spec, kept ...string) {
	c.t.Helper()
	for _, s := range specs {
		want := slices.Contains(kept, s.name)
		for _, k := range []string{hashOf(s.name) + ".narinfo", hashOf(s.name) + ".ls", "nar/" + s.name + ".nar"} {
			if c.has(k) != want {
				c.t.Errorf("%s (path %s): present %v, want %v", k, s.name, !want, want)
			}
		}
	}
}

func (c *cache) blobCount() int {
	n := 0
	c.blobs.Walk(c.t.Context(), func(string, time.Time) error { n++; return nil })
	return n
}

var generations = []spec{
	{name: "glibc", age: 90 * day},
	{name: "tool", age: 90 * day},
	{name: "lib1", age: 60 * day, refs: []string{"glibc"}},
	{name: "gen1", age: 60 * day, refs: []string{"lib1", "tool", "glibc"}},
	{name: "lib2", age: 40 * day, refs: []string{"glibc"}},
	{name: "gen2", age: 40 * day, refs: []string{"lib2", "tool"}},
	{name: "lib3", age: 2 * day, refs: []string{"glibc"}},
	{name: "gen3", age: 2 * day, refs: []string{"lib3"}},
}

func TestCollectKeepDays(t *testing.T) {
	c := newCache(t)
	c.push(generations...)
	blobs := c.blobCount()
	r := meta.Retention{KeepDays: 30, Grace: time.Hour}

	dry := c.run(r, true)
	if len(c.deleted) != 0 {
		t.Fatalf("dry run deleted %v", c.deleted)
	}
	c.checkPaths(generations, "glibc", "tool", "lib1", "gen1", "lib2", "gen2", "lib3", "gen3")

	rep := c.run(r, false)
	c.checkPaths(generations, "glibc", "lib3", "gen3")
	st := rep.Removed[Stale]
	if st.Paths != 5 || st.NARs != 5 || st.Listings != 5 || st.Logs != 5 {
		t.Errorf("removed %+v, want 5 stale paths with their NARs, listings and logs", st)
	}
	if dry.Removed != rep.Removed {
		t.Errorf("dry run reported %+v, the run %+v", dry.Removed, rep.Removed)
	}
	if got := c.blobCount(); got != blobs-5 {
		t.Errorf("%d blobs on disk, want %d (the 5 NARs gone)", got, blobs-5)
	}
	if rep.Paths != 8 || rep.Kept != 3 {
		t.Errorf("report: %d paths, %d kept; want 8, 3", rep.Paths, rep.Kept)
	}
	for _, s := range []string{"glibc", "lib3", "gen3"} {
		if !c.has("log/" + hashOf("drv-"+s) + "-" + s + ".drv") {
			t.Errorf("the build log of kept %s is gone", s)
		}
	}
	t.Log("\n" + rep.String())
}

func TestCollectMaxSize(t *testing.T) {
	c := newCache(t)
	c.push(generations...)
	total := c.run(meta.Retention{Grace: time.Hour}, true).Bytes
	// Room for all but one generation's unique paths: gen1 (the least
	// recently used) must go with lib1, and glibc and tool, which gen2
	// and gen3 still need, must stay.
	perPath := total / int64(len(generations))
	rep := c.run(meta.Retention{MaxSize: total - perPath - 1, Grace: time.Hour}, false)
	c.checkPaths(generations, "glibc", "tool", "lib2", "gen2", "lib3", "gen3")
	if f := rep.Removed[OverSize]; f.Paths != 2 || f.NARs != 2 {
		t.Errorf("removed over max-size %+v, want 2 paths and 2 NARs", f)
	}
	// A fetch makes a path recently used: gen2 is read, so gen3 goes next.
	c.now = c.now.Add(time.Minute)
	if err := c.store.TouchNarinfos(t.Context(), bucket, []string{hashOf("gen2")}, c.now); err != nil {
		t.Fatal(err)
	}
	c.run(meta.Retention{MaxSize: rep.Projected - 2*perPath, Grace: time.Hour}, false)
	c.checkPaths(generations, "glibc", "tool", "lib2", "gen2")
}

func TestCollectGrace(t *testing.T) {
	c := newCache(t)
	c.push(generations...)
	// A push in flight: gen4's NAR, listing and log are up, not yet its
	// narinfo; lib4's narinfo is up, young, and nothing refers to it yet.
	gen4 := spec{name: "gen4", refs: []string{"lib4", "tool"}}
	lib4 := spec{name: "lib4", refs: []string{"glibc"}}
	c.now = c.now.Add(-10 * time.Minute)
	c.uploadFiles(lib4)
	c.uploadNarinfo(lib4)
	c.uploadFiles(gen4)
	c.now = c.now.Add(10 * time.Minute)
	// Nix asked whether tool and glibc, which gen4 needs, are in the
	// cache: that use protects them as a young push does.
	if err := c.store.TouchNarinfos(t.Context(), bucket, []string{hashOf("tool"), hashOf("glibc")}, c.now.Add(-5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// An orphan NAR older than the grace period goes; a young one stays.
	c.now = c.now.Add(-2 * time.Hour)
	c.put("nar/orphan-old.nar", narSize)
	c.now = c.now.Add(2 * time.Hour)
	c.put("nar/orphan-young.nar", narSize)

	rep := c.run(meta.Retention{KeepDays: 1, Grace: time.Hour}, false)
	if !c.has("nar/gen4.nar") || !c.has(hashOf("gen4")+".ls") {
		t.Errorf("gen4's NAR or listing, uploaded 10 minutes ago, is gone")
	}
	if c.has("nar/orphan-old.nar") || !c.has("nar/orphan-young.nar") {
		t.Errorf("orphans: old present %v, young present %v; want false, true", c.has("nar/orphan-old.nar"), c.has("nar/orphan-young.nar"))
	}
	if f := rep.Removed[Orphan]; f.NARs != 1 {
		t.Errorf("removed orphans %+v, want 1 NAR", f)
	}
	// The push completes: gen4's narinfo goes in, and its closure is whole
	// (lib4, glibc and tool were kept by lib4's and gen4's young age).
	c.uploadNarinfo(gen4)
	c.checkPaths(append(slices.Clone(generations), lib4, gen4), "glibc", "tool", "lib4", "gen4")
	c.checkInvariant()
}

func TestCollectDeletionOrder(t *testing.T) {
	c := newCache(t)
	chain := []spec{
		{name: "d", age: 99 * day},
		{name: "c", age: 99 * day, refs: []string{"d"}},
		{name: "b", age: 99 * day, refs: []string{"c", "d"}},
		{name: "a", age: 99 * day, refs: []string{"b", "d"}},
		{name: "e", age: 99 * day, refs: []string{"c"}},
	}
	c.push(chain...)
	col := c.collector()
	col.Announce = func(context.Context) error {
		c.mu.Lock()
		c.deleted = append(c.deleted, "ANNOUNCE")
		c.mu.Unlock()
		return nil
	}
	if _, err := col.Run(t.Context(), bucket, meta.Retention{KeepDays: 7, Grace: time.Hour}, false); err != nil {
		t.Fatal(err)
	}
	c.checkInvariant()
	// Other processes hear of deleted narinfos before their references
	// go, and of everything at the end.
	announced := func(from, to int) bool { return slices.Contains(c.deleted[from:to], "ANNOUNCE") }
	if c.deleted[len(c.deleted)-1] != "ANNOUNCE" {
		t.Errorf("no announcement at the end: %v", c.deleted)
	}
	pos := map[string]int{}
	for i, k := range c.deleted {
		pos[k] = i
	}
	for _, s := range chain {
		for _, r := range s.refs {
			if !announced(pos[hashOf(s.name)+".narinfo"], pos[hashOf(r)+".narinfo"]) {
				t.Errorf("%s went with no announcement since %s, which refers to it, went: %v", r, s.name, c.deleted)
			}
		}
	}
	c.deleted = slices.DeleteFunc(c.deleted, func(k string) bool { return k == "ANNOUNCE" })
	pos = map[string]int{}
	lastNarinfo, firstFile := -1, len(c.deleted)
	for i, k := range c.deleted {
		pos[k] = i
		if strings.HasSuffix(k, ".narinfo") {
			lastNarinfo = i
		} else {
			firstFile = min(firstFile, i)
		}
	}
	if lastNarinfo > firstFile {
		t.Errorf("a NAR, listing or log went before the last narinfo: %v", c.deleted)
	}
	for _, s := range chain {
		for _, r := range s.refs {
			if pos[hashOf(s.name)+".narinfo"] > pos[hashOf(r)+".narinfo"] {
				t.Errorf("%s went before %s, which refers to it: %v", r, s.name, c.deleted)
			}
		}
	}
	if len(c.deleted) != 5*4 {
		t.Errorf("deleted %d objects, want 20: %v", len(c.deleted), c.deleted)
	}
}

func TestCollectRescue(t *testing.T) {
	c := newCache(t)
	c.push(generations...)
	// gen1 is fetched after the run began (between plan and sweep, as a
	// substituter would): it stays, with its closure.
	col := c.collector()
	col.Progress = func(phase string, _, _ int) {
		if phase == "measuring" {
			c.now = c.now.Add(time.Second)
			c.store.TouchNarinfos(t.Context(), bucket, []string{hashOf("gen1")}, c.now)
		}
	}
	rep, err := col.Run(t.Context(), bucket, meta.Retention{KeepDays: 30, Grace: time.Hour}, false)
	if err != nil {
		t.Fatal(err)
	}
	c.checkInvariant()
	c.checkPaths(generations, "glibc", "tool", "lib1", "gen1", "lib3", "gen3")
	if rep.Rescued != 1 {
		t.Errorf("rescued %d, want 1", rep.Rescued)
	}
}

// fakePins pins store paths by name.
type fakePins []string

func (p fakePins) PinnedPaths(_ context.Context, b string) ([]string, error) {
	var out []string
	for _, n := range p {
		out = append(out, "/nix/store/"+hashOf(n)+"-"+n)
	}
	return out, nil
}

func TestCollectPins(t *testing.T) {
	c := newCache(t)
	c.push(generations...)
	col := c.collector()
	col.Pins = fakePins{"gen1", "not-in-the-cache"}
	if _, err := col.Run(t.Context(), bucket, meta.Retention{KeepDays: 30, MaxSize: 1, Grace: time.Hour}, false); err != nil {
		t.Fatal(err)
	}
	c.checkInvariant()
	// gen1 is pinned: its closure stays whatever keep-days and max-size say.
	c.checkPaths(generations, "glibc", "tool", "lib1", "gen1")
}

// latePins has no pins when the run plans, and then pins path: a pin
// added while the collector deletes.
type latePins struct {
	calls atomic.Int32
	path  string
}

func (p *latePins) PinnedPaths(ctx context.Context, b string) ([]string, error) {
	if p.calls.Add(1) == 1 {
		return nil, nil
	}
	return fakePins{p.path}.PinnedPaths(ctx, b)
}

// TestCollectPinDuringRun: a path pinned after the run planned to delete
// it is kept, with its closure, by the next batch.
func TestCollectPinDuringRun(t *testing.T) {
	c := newCache(t)
	c.push(generations...)
	col := c.collector()
	pins := &latePins{path: "gen1"}
	col.Pins = pins
	rep, err := col.Run(t.Context(), bucket, meta.Retention{KeepDays: 30, MaxSize: 1, Grace: time.Hour}, false)
	if err != nil {
		t.Fatal(err)
	}
	if pins.calls.Load() < 2 {
		t.Fatalf("pins read %d times, want again before deleting", pins.calls.Load())
	}
	c.checkInvariant()
	c.checkPaths(generations, "glibc", "tool", "lib1", "gen1")
	if rep.Rescued == 0 {
		t.Error("the report counts no rescued path")
	}
}

// TestCollectReferrerPushedDuringRun: a push that completes while the
// collector runs refers to an old path the plan gave up (Nix found it in
// the cache and did not upload it again). The new narinfo was accepted,
// so the old path must stay, with its closure.
func TestCollectReferrerPushedDuringRun(t *testing.T) {
	c := newCache(t)
	c.push(generations...)
	gen5 := spec{name: "gen5", refs: []string{"lib1", "tool"}}
	col := c.collector()
	c.pushAt(col, "measuring", gen5)
	if _, err := col.Run(t.Context(), bucket, meta.Retention{KeepDays: 30, Grace: time.Hour}, false); err != nil {
		t.Fatal(err)
	}
	c.checkInvariant()
	c.checkPaths(append(slices.Clone(generations), gen5), "glibc", "tool", "lib1", "lib3", "gen3", "gen5")
}

// TestCollectNarClaimedDuringRun: a push that died left a NAR, older than
// the grace period. The push runs again while the collector runs: Nix
// finds the NAR there (HEAD) and uploads only the narinfo, which the
// cache accepts. The NAR, its listing and its log, which the plan took
// for orphans, must stay.
func TestCollectNarClaimedDuringRun(t *testing.T) {
	c := newCache(t)
	c.push(generations...)
	gen5 := spec{name: "gen5", refs: []string{"lib3", "glibc"}}
	c.leftBy(gen5, 2*time.Hour)
	col := c.collector()
	pushed := false
	col.Progress = func(phase string, _, _ int) {
		if phase == "deleting narinfos" && !pushed {
			pushed = true
			c.now = c.now.Add(time.Second)
			c.uploadNarinfo(gen5)
		}
	}
	if _, err := col.Run(t.Context(), bucket, meta.Retention{KeepDays: 30, Grace: time.Hour}, false); err != nil {
		t.Fatal(err)
	}
	if !pushed {
		t.Fatal("the run deleted no narinfo")
	}
	c.checkInvariant()
	c.checkPaths(append(slices.Clone(generations), gen5), "glibc", "lib3", "gen3", "gen5")
	if k := "log/" + hashOf("drv-gen5") + "-gen5.drv"; !c.has(k) {
		t.Errorf("%s, the build log of the path pushed during the run, is gone", k)
	}
}
