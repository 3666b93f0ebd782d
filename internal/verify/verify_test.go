package verify_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/sqlite"
	"github.com/nixbucket/nixbucket/internal/nix/codec"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/storage/localfs"
	"github.com/nixbucket/nixbucket/internal/verify"
)

const bucket = "cache"

// env is a bucket in a data directory, written the way the server
// writes (NARs as blobs, narinfos with their index record), but without
// the server's checks, so that tests can store what it would refuse.
type env struct {
	t     *testing.T
	dir   string
	store meta.Store
	blobs *localfs.Backend
	objs  *objects.Service
	key   signature.SecretKey
}

func newEnv(t *testing.T) *env {
	dir := t.TempDir()
	store, err := sqlite.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	return newEnvOver(t, dir, store)
}

// newEnvOver is newEnv on the given metadata store, which it closes at
// the test's end.
func newEnvOver(t *testing.T, dir string, store meta.Store) *env {
	t.Cleanup(func() { store.Close() })
	blobs, err := localfs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	e := &env{t: t, dir: dir, store: store, blobs: blobs, objs: &objects.Service{Meta: store, Blobs: blobs, NoMemo: true}}
	if err := e.objs.CreateBucket(t.Context(), bucket); err != nil {
		t.Fatal(err)
	}
	if e.key, err = signature.Generate("cache-1"); err != nil {
		t.Fatal(err)
	}
	if err := store.AddSigningKey(t.Context(), meta.SigningKey{Bucket: bucket, Name: "cache-1", Secret: e.key.String(), Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return e
}

func hashOf(name string) string {
	const alphabet = "0123456789abcdfghijklmnpqrsvwxyz"
	h := sha256.Sum256([]byte(name))
	b := make([]byte, 32)
	for i := range b {
		b[i] = alphabet[h[i]%32]
	}
	return string(b)
}

func base(name string) string { return hashOf(name) + "-" + name }

// path describes one store path to add.
type path struct {
	name string
	refs []string
	comp string // "none", "zstd", "xz"…
	// tamper, if set, changes the record before it is stored.
	tamper func(*meta.Narinfo)
}

// add stores p's NAR (random bytes, compressed with p.comp) and its
// narinfo, signed by the bucket's key, and returns the record.
func (e *env) add(p path) meta.Narinfo {
	t := e.t
	nar := make([]byte, 64<<10)
	rand.Read(nar)
	comp := p.comp
	if comp == "" {
		comp = "zstd"
	}
	file, err := codec.Encode(comp, nar)
	if err != nil {
		t.Fatal(err)
	}
	var fh, nh nixhash.SHA256
	fh = sha256.Sum256(file)
	nh = sha256.Sum256(nar)
	url := "nar/" + fh.Nix32() + ".nar"
	if comp != "none" {
		url += "." + comp
	}
	if _, err := e.objs.Put(t.Context(), objects.PutInput{Bucket: bucket, Key: url, Body: bytes.NewReader(file), Size: int64(len(file))}); err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, r := range p.refs {
		refs = append(refs, base(r))
	}
	slices.Sort(refs)
	n := meta.Narinfo{Bucket: bucket, Hash: hashOf(p.name), StorePath: "/nix/store/" + base(p.name), URL: url,
		Compression: comp, FileHash: fh.String(), FileSize: int64(len(file)), NarHash: nh.String(), NarSize: int64(len(nar)),
		References: refs, Deriver: base(p.name + ".drv"), Created: time.Now(), LastAccess: time.Now()}
	ni := narinfo.NarInfo{StorePath: n.StorePath, NarHash: n.NarHash, NarSize: uint64(n.NarSize), References: n.References}
	ni.Sign(e.key)
	n.Sigs = ni.Sigs
	if p.tamper != nil {
		p.tamper(&n)
	}
	e.putNarinfo(n)
	return n
}

func (e *env) putNarinfo(n meta.Narinfo) {
	body := []byte("StorePath: " + n.StorePath + "\n")
	obj := meta.Object{Bucket: bucket, Key: n.Hash + ".narinfo", Size: int64(len(body)), ETag: "x", Modified: time.Now(),
		Segments: []meta.Segment{{Size: int64(len(body)), Data: body}}, Narinfo: &n}
	if _, err := e.store.PutObject(e.t.Context(), obj, nil); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) checker(deep bool) *verify.Checker {
	return &verify.Checker{Store: e.store, Objects: e.objs, Blobs: e.blobs, Jobs: 3, Deep: deep, ForRepair: true}
}

func (e *env) check(deep bool) *verify.Report {
	e.t.Helper()
	r, err := e.checker(deep).Check(e.t.Context(), bucket)
	if err != nil {
		e.t.Fatalf("Check: %v", err)
	}
	return r
}

// blobFile returns the file of the blob holding key.
func (e *env) blobFile(key string) string {
	obj, err := e.store.Object(e.t.Context(), bucket, key)
	if err != nil {
		e.t.Fatal(err)
	}
	id := obj.Segments[0].Blob
	return filepath.Join(e.dir, "blobs", "blobs", id[:2], id)
}

func wantCounts(t *testing.T, r *verify.Report, want map[verify.Kind]int) {
	t.Helper()
	got := map[verify.Kind]int{}
	for k, c := range r.Counts {
		if c > 0 {
			got[k] = c
		}
	}
	if len(got) != len(want) {
		t.Errorf("problems %v, want %v\nexamples: %v", got, want, r.Examples)
		return
	}
	for k, c := range want {
		if got[k] != c {
			t.Errorf("problems %v, want %v\nexamples: %v", got, want, r.Examples)
			return
		}
	}
}

// closure adds libc ← lib ← app, and tool → libc.
func (e *env) closure() map[string]meta.Narinfo {
	out := map[string]meta.Narinfo{}
	for _, p := range []path{
		{name: "libc", comp: "gzip"},
		{name: "lib", refs: []string{"libc", "lib"}, comp: "none"}, // a self-reference
		{name: "app", refs: []string{"lib", "libc"}},
		{name: "tool", refs: []string{"libc"}, comp: "br"},
	} {
		out[p.name] = e.add(p)
	}
	return out
}

func TestClean(t *testing.T) {
	e := newEnv(t)
	e.closure()
	for _, deep := range []bool{false, true} {
		r := e.check(deep)
		wantCounts(t, r, nil)
		if r.Narinfos != 4 || r.Blobs != 4 || r.Objects != 8 {
			t.Errorf("deep %v: checked %d narinfos, %d blobs, %d objects; want 4, 4, 8", deep, r.Narinfos, r.Blobs, r.Objects)
		}
	}
}

func TestCorruptNARAndRepair(t *testing.T) {
	e := newEnv(t)
	ps := e.closure()
	// Flip a byte of lib's NAR on disk: same size, another hash.
	f := e.blobFile(ps["lib"].URL)
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	b[100] ^= 0xff
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.check(false)
	wantCounts(t, r, map[verify.Kind]int{verify.BadFileHash: 1})
	if ex := r.Examples[verify.BadFileHash]; len(ex) != 1 || !strings.Contains(ex[0], ps["lib"].StorePath) {
		t.Errorf("examples %q, want lib's path", ex)
	}
	// A check that keeps only the graph finds the same, and cannot repair.
	light := e.checker(false)
	light.ForRepair = false
	lr, err := light.Check(t.Context(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, lr, map[verify.Kind]int{verify.BadFileHash: 1})
	if !slices.Equal(lr.Examples[verify.BadFileHash], r.Examples[verify.BadFileHash]) {
		t.Errorf("without records: examples %q, want %q", lr.Examples[verify.BadFileHash], r.Examples[verify.BadFileHash])
	}
	if _, err := light.Repair(t.Context(), lr); err == nil {
		t.Error("Repair of a check without records: no error")
	}
	rm, err := e.checker(false).Repair(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rm.Broken, []string{ps["lib"].StorePath}) || !slices.Equal(rm.Referrers, []string{ps["app"].StorePath}) {
		t.Errorf("repair removed broken %v, referrers %v; want lib, then app", rm.Broken, rm.Referrers)
	}
	if rm.Sizes.NarinfoCount != 2 || rm.Sizes.NARCount != 2 {
		t.Errorf("repair sizes %+v, want 2 narinfos and 2 NARs", rm.Sizes)
	}
	if got := r.Repaired(rm); got != r.Problems() {
		t.Errorf("Repaired = %d, want all %d", got, r.Problems())
	}
	wantCounts(t, e.check(true), nil)
	for _, name := range []string{"libc", "tool"} {
		if _, err := e.store.Narinfo(t.Context(), bucket, ps[name].Hash); err != nil {
			t.Errorf("%s: %v, want it kept", name, err)
		}
	}
}

func TestMissingNARAndReference(t *testing.T) {
	e := newEnv(t)
	ps := e.closure()
	if _, err := e.store.DeleteObject(t.Context(), bucket, ps["libc"].Hash+".narinfo", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.objs.Delete(t.Context(), bucket, ps["tool"].URL, objects.Conditions{}); err != nil {
		t.Fatal(err)
	}
	r := e.check(false)
	// lib, app and tool refer to the missing libc; tool's NAR is gone.
	wantCounts(t, r, map[verify.Kind]int{verify.MissingReference: 3, verify.MissingNAR: 1})
	if ex := r.Examples[verify.MissingReference]; len(ex) != 3 || !strings.Contains(ex[0], ps["libc"].StorePath+" not in the bucket") {
		t.Errorf("examples %q, want libc's store path named missing", ex)
	}
	rm, err := e.checker(false).Repair(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if len(rm.Broken) != 3 {
		t.Errorf("repair removed %v, want lib, app and tool", rm.Broken)
	}
	// libc's NAR, which no narinfo names any more, is an object but no
	// problem for verify: what only removed paths kept is left to gc.
	wantCounts(t, e.check(false), nil)
}

func TestDeepNarHash(t *testing.T) {
	e := newEnv(t)
	e.closure()
	// A narinfo whose FileHash matches its NAR but whose NarHash does not
	// (the server checks NarHash on upload: write the record directly),
	// signed over the wrong hash so that only --deep can tell.
	bad := e.add(path{name: "liar", refs: []string{"libc"}, tamper: func(n *meta.Narinfo) {
		var h nixhash.SHA256
		h[0] = 1
		n.NarHash = h.String()
		ni := narinfo.NarInfo{StorePath: n.StorePath, NarHash: n.NarHash, NarSize: uint64(n.NarSize), References: n.References}
		ni.Sign(e.key)
		n.Sigs = ni.Sigs
	}})
	wantCounts(t, e.check(false), nil)
	r := e.check(true)
	wantCounts(t, r, map[verify.Kind]int{verify.BadNarHash: 1})
	// A wrong NarSize is told apart.
	bad.NarSize++
	e.putNarinfo(bad)
	wantCounts(t, e.check(true), map[verify.Kind]int{verify.BadNarSize: 1, verify.BadSignature: 1})
}

func TestSignatures(t *testing.T) {
	e := newEnv(t)
	other, _ := signature.Generate("elsewhere-1")
	e.add(path{name: "unsigned", tamper: func(n *meta.Narinfo) { n.Sigs = nil }})
	e.add(path{name: "foreign", tamper: func(n *meta.Narinfo) {
		ni := narinfo.NarInfo{StorePath: n.StorePath, NarHash: n.NarHash, NarSize: uint64(n.NarSize), References: n.References}
		ni.Sign(other)
		n.Sigs = ni.Sigs
	}})
	e.add(path{name: "forged", tamper: func(n *meta.Narinfo) { n.Sigs = []string{"cache-1:" + strings.Repeat("A", 86) + "=="} }})
	e.add(path{name: "fine"})
	r := e.check(false)
	wantCounts(t, r, map[verify.Kind]int{verify.Unsigned: 1, verify.UnknownKey: 1, verify.BadSignature: 1})
	// Repair leaves them: they are only reported.
	rm, err := e.checker(false).Repair(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if len(rm.Broken)+len(rm.Referrers) != 0 || r.Repaired(rm) != 0 {
		t.Errorf("repair removed %v %v, want nothing", rm.Broken, rm.Referrers)
	}
}

func TestBlobs(t *testing.T) {
	e := newEnv(t)
	ps := e.closure()
	// An orphan: a committed blob nothing refers to, as a crash between
	// commit and metadata leaves. A young one may be an upload in flight.
	orphan := func(age time.Duration) string {
		w, err := e.blobs.Create(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("orphan"))
		id, err := w.Commit(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-age)
		if err := os.Chtimes(filepath.Join(e.dir, "blobs", "blobs", id[:2], id), old, old); err != nil {
			t.Fatal(err)
		}
		return id
	}
	old := orphan(2 * time.Hour)
	orphan(time.Minute)
	// An object whose blob is gone.
	if err := os.Remove(e.blobFile(ps["tool"].URL)); err != nil {
		t.Fatal(err)
	}
	r := e.check(false)
	wantCounts(t, r, map[verify.Kind]int{verify.OrphanBlob: 1, verify.MissingBlob: 1, verify.UnreadableNAR: 1})
	if r.YoungBlobs != 1 {
		t.Errorf("YoungBlobs = %d, want 1", r.YoungBlobs)
	}
	rm, err := e.checker(false).Repair(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rm.Orphans, []string{old}) || !slices.Equal(rm.Broken, []string{ps["tool"].StorePath}) {
		t.Errorf("repair removed orphans %v, broken %v; want %s and tool", rm.Orphans, rm.Broken, old)
	}
	if got := r.Repaired(rm); got != r.Problems() {
		t.Errorf("Repaired = %d, want all %d", got, r.Problems())
	}
	r = e.check(false)
	wantCounts(t, r, nil)
	if r.YoungBlobs != 1 {
		t.Errorf("after repair: YoungBlobs = %d, want the young one left", r.YoungBlobs)
	}
}

// racyStore's scan misses one record (pushed during the scan, below its
// position) and shows one that is gone by the time it is checked
// (deleted by gc or path delete meanwhile).
type racyStore struct {
	meta.Store
	hide  string
	ghost meta.Narinfo
}

func (s racyStore) ScanNarinfos(ctx context.Context, bucket, after string, limit int) ([]meta.Narinfo, error) {
	page, err := s.Store.ScanNarinfos(ctx, bucket, after, limit)
	page = slices.DeleteFunc(page, func(n meta.Narinfo) bool { return n.Hash == s.hide })
	if after == "" {
		page = append([]meta.Narinfo{s.ghost}, page...)
	}
	return page, err
}

// TestConcurrentChanges: what changed while verify scanned is looked up
// again before it is reported, so pushes and deletes beside a check are
// no problems.
func TestConcurrentChanges(t *testing.T) {
	e := newEnv(t)
	ps := e.closure()
	ghost := ps["app"]
	ghost.Hash, ghost.StorePath, ghost.URL = hashOf("ghost"), "/nix/store/"+base("ghost"), "nar/gone.nar.zst"
	ni := narinfo.NarInfo{StorePath: ghost.StorePath, NarHash: ghost.NarHash, NarSize: uint64(ghost.NarSize), References: ghost.References}
	ni.Sign(e.key)
	ghost.Sigs = ni.Sigs
	c := e.checker(false)
	c.Store = racyStore{Store: e.store, hide: ps["libc"].Hash, ghost: ghost}
	r, err := c.Check(t.Context(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, r, nil)
}

// TestRepairSkipsRepushed: a broken narinfo pushed again between the
// check and the repair is left, with its referrers.
func TestRepairSkipsRepushed(t *testing.T) {
	e := newEnv(t)
	ps := e.closure()
	if err := e.objs.Delete(t.Context(), bucket, ps["lib"].URL, objects.Conditions{}); err != nil {
		t.Fatal(err)
	}
	r := e.check(false)
	wantCounts(t, r, map[verify.Kind]int{verify.MissingNAR: 1})
	fixed := e.add(path{name: "lib", refs: []string{"libc", "lib"}, comp: "none"}) // a new NAR and record
	rm, err := e.checker(false).Repair(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if len(rm.Broken)+len(rm.Referrers) != 0 {
		t.Errorf("repair removed %v %v, want nothing: lib was pushed again", rm.Broken, rm.Referrers)
	}
	if _, err := e.store.Narinfo(t.Context(), bucket, fixed.Hash); err != nil {
		t.Errorf("the re-pushed lib: %v", err)
	}
	wantCounts(t, e.check(false), nil)
}
