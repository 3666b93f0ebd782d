package console

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/sqlite"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/storage/localfs"
)

// scanCounter counts the scans of the narinfo index.
type scanCounter struct {
	meta.Store
	scans atomic.Int64
}

func (s *scanCounter) ScanNarinfos(ctx context.Context, bucket, after string, limit int) ([]meta.Narinfo, error) {
	s.scans.Add(1)
	return s.Store.ScanNarinfos(ctx, bucket, after, limit)
}

// refsHook indexes a HASH.narinfo whose body is its references' hashes,
// space-separated, as the narinfo of a path of NarSize 100.
type refsHook struct{}

func (refsHook) Wants(_, key string) bool { return strings.HasSuffix(key, ".narinfo") }

func (refsHook) Put(_ context.Context, in objects.HookInput) (objects.HookOutput, error) {
	hash := strings.TrimSuffix(in.Key, ".narinfo")
	n := &meta.Narinfo{Bucket: in.Bucket, Hash: hash, StorePath: "/nix/store/" + hash + "-p", URL: "nar/" + hash + ".nar",
		NarSize: 100, NarHash: "sha256:x", FileHash: "sha256:x", FileSize: 100}
	for _, r := range strings.Fields(string(in.Body)) {
		n.References = append(n.References, r+"-p")
	}
	return objects.HookOutput{Headers: in.Headers, Body: in.Body, Narinfo: n}, nil
}

func hashOf(c byte) string { return strings.Repeat(string(c), 32) }

// graphStore returns an SQLite store and an objects.Service indexing
// narinfos with refsHook, holding the buckets named.
func graphStore(t testing.TB, buckets ...string) (*sqlite.Store, *objects.Service) {
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := localfs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	svc := &objects.Service{Meta: st, Blobs: blobs, Hook: refsHook{}, Changes: st}
	for _, b := range buckets {
		if err := svc.CreateBucket(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	return st, svc
}

// TestBucketGraphKept: a bucket's graph is loaded once and kept while the
// bucket does not change; any object write or delete in the bucket, and
// nothing else, makes the next page load it again, and what it loads
// holds the change; keptGraph gives only a current graph, and never
// loads. Without a Version to go by (NoMemo) every page loads.
func TestBucketGraphKept(t *testing.T) {
	ctx := context.Background()
	st, svc := graphStore(t, "one", "two")
	store := &scanCounter{Store: st}
	put := func(bucket, key, body string) {
		t.Helper()
		if _, err := svc.Put(ctx, objects.PutInput{Bucket: bucket, Key: key, Body: bytes.NewReader([]byte(body)), Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
	}
	a, b, c, d := hashOf('a'), hashOf('b'), hashOf('c'), hashOf('d')
	put("one", c+".narinfo", "")
	put("one", b+".narinfo", c)
	put("one", a+".narinfo", b+" "+a) // a refers to itself too, as paths do

	h := &Handler{store: store, objects: svc}
	view := func(want int64, why string) *graph {
		t.Helper()
		before := store.scans.Load()
		g, err := h.bucketGraph(ctx, "one")
		if err != nil {
			t.Fatal(err)
		}
		if got := store.scans.Load() - before; (got > 0) != (want > 0) {
			t.Fatalf("%s: %d scans of the index, want %s", why, got, map[bool]string{true: "some", false: "none"}[want > 0])
		}
		return g
	}
	largest := func(g *graph) string {
		var s []string
		for _, r := range g.largest(10, func(string) bool { return true }) {
			s = append(s, fmt.Sprintf("%s:%d:%d", r.N.Hash[:1], r.Paths, r.NarBytes))
		}
		return strings.Join(s, " ")
	}

	g := view(1, "first page")
	if got := largest(g); got != "a:3:300" {
		t.Fatalf("largest %q, want a:3:300", got)
	}
	if g2 := view(0, "second page, nothing changed"); g2 != g {
		t.Fatal("the second page has another graph")
	}
	if kept := h.keptGraph(ctx, "one"); kept != g {
		t.Fatal("keptGraph does not give the kept graph")
	}
	put("two", d+".narinfo", "")
	view(0, "after a write to another bucket")
	put("one", "unrelated", "x")
	before := store.scans.Load()
	if kept := h.keptGraph(ctx, "one"); kept != nil || store.scans.Load() != before {
		t.Fatal("keptGraph gave a stale graph, or loaded one")
	}
	put("one", d+".narinfo", a)
	if got := largest(view(1, "after a push to the bucket")); got != "d:4:400" {
		t.Fatalf("largest after the push %q, want d:4:400", got)
	}
	put("one", "nar/"+d+".nar", "x") // any object of the bucket counts
	view(1, "after a NAR upload")
	if err := svc.Delete(ctx, "one", d+".narinfo", objects.Conditions{}); err != nil {
		t.Fatal(err)
	}
	if got := largest(view(1, "after a delete")); got != "a:3:300" {
		t.Fatalf("largest after the delete %q, want a:3:300", got)
	}
	view(0, "again")
	// Another process's announced change (an admin command beside the
	// server) counts too.
	if err := st.SetSetting(ctx, "announce", "1"); err != nil {
		t.Fatal(err)
	}
	view(1, "after an announced change")

	svc.NoMemo = true
	view(1, "without a Version")
	view(1, "without a Version, again")
}

// TestPathClosureFromGraph: the closure the store path page shows is the
// same through the bucket's graph as through one lookup per path: paths,
// bytes, missing references and paths hidden from the caller.
func TestPathClosureFromGraph(t *testing.T) {
	ctx := context.Background()
	st, svc := graphStore(t, "one")
	refs := map[byte]string{'a': "b c x", 'b': "c d", 'c': "", 'd': "e", 'e': "a"} // x is missing; a cycle through e
	for k, v := range refs {
		var hs []string
		for _, r := range strings.Fields(v) {
			hs = append(hs, hashOf(r[0]))
		}
		body := strings.Join(hs, " ")
		if _, err := svc.Put(ctx, objects.PutInput{Bucket: "one", Key: hashOf(k) + ".narinfo", Body: bytes.NewReader([]byte(body)), Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
	}
	h := &Handler{store: st, objects: svc}
	g, err := h.bucketGraph(ctx, "one")
	if err != nil || g == nil {
		t.Fatal(g, err)
	}
	root, err := st.Narinfo(ctx, "one", hashOf('a'))
	if err != nil {
		t.Fatal(err)
	}
	for _, hidden := range []byte{0, 'd'} {
		may := func(h string) bool { return h != hashOf(hidden) }
		viaGraph, err := h.pathClosure(ctx, "one", root, g, may)
		if err != nil {
			t.Fatal(err)
		}
		viaIndex, err := h.pathClosure(ctx, "one", root, nil, may)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(viaGraph) != fmt.Sprint(viaIndex) {
			t.Errorf("hiding %q: through the graph %+v, through the index %+v", hidden, viaGraph, viaIndex)
		}
		want := closureInfo{Paths: 5, NarBytes: 500, Missing: []string{hashOf('x') + "-p"}}
		if hidden == 'd' {
			want = closureInfo{Paths: 3, NarBytes: 300, Missing: want.Missing, Hidden: 1}
		}
		if fmt.Sprint(viaGraph) != fmt.Sprint(want) {
			t.Errorf("hiding %q: %+v, want %+v", hidden, viaGraph, want)
		}
	}
}

// BenchmarkPathPageGraph is what the store path page of the head of a
// chain of 2,000 paths reads for its closure and referrers: the graph
// kept (a bucket that did not change since the last page) or loaded per
// page (NoMemo: no Version to keep it under), and the closure walked
// through it; lookups is the page before graphs were kept: the graph
// loaded, and the closure walked with one index lookup per path.
func BenchmarkPathPageGraph(b *testing.B) {
	ctx := context.Background()
	st, svc := graphStore(b, "one")
	const n = 2000
	hash := func(i int) string { return fmt.Sprintf("%032d", i) }
	for i := range n {
		body := ""
		if i > 0 {
			body = hash(i - 1)
		}
		if _, err := svc.Put(ctx, objects.PutInput{Bucket: "one", Key: hash(i) + ".narinfo", Body: bytes.NewReader([]byte(body)), Size: int64(len(body))}); err != nil {
			b.Fatal(err)
		}
	}
	root, err := st.Narinfo(ctx, "one", hash(n-1))
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"kept", "loaded", "lookups"} {
		b.Run(mode, func(b *testing.B) {
			svc.NoMemo = mode != "kept"
			h := &Handler{store: st, objects: svc}
			for b.Loop() {
				g, err := h.bucketGraph(ctx, "one")
				if err != nil {
					b.Fatal(err)
				}
				walk := g
				if mode == "lookups" { // as before the graphs were kept
					walk = nil
				}
				ci, err := h.pathClosure(ctx, "one", root, walk, func(string) bool { return true })
				if err != nil || ci.Paths != n {
					b.Fatal(ci, err)
				}
				g.referrers(root.Hash)
			}
		})
	}
}

// TestContaining: the search's second part lists the paths whose name
// holds the query anywhere, without case, by name, leaving out those the
// index's prefix search found and stopping at the limit.
func TestContaining(t *testing.T) {
	g := &graph{nodes: map[string]*node{}}
	for i, name := range []string{"hello-2.12", "Hello-world-2.12.1", "bash-5.2", "python3.12-2.12", "other"} {
		hash := fmt.Sprintf("%032d", i)
		g.nodes[hash] = &node{n: meta.Narinfo{Hash: hash, StorePath: "/nix/store/" + hash + "-" + name}, lname: strings.ToLower(pathName("/nix/store/"+hash+"-"+name, hash))}
	}
	names := func(ns []meta.Narinfo) string {
		var s []string
		for _, n := range ns {
			s = append(s, pathName(n.StorePath, n.Hash))
		}
		return strings.Join(s, " ")
	}
	if got := names(g.containing(" 2.12 ", nil, 10)); got != "hello-2.12 Hello-world-2.12.1 python3.12-2.12" {
		t.Errorf("containing 2.12: %q", got)
	}
	found := []meta.Narinfo{g.nodes[fmt.Sprintf("%032d", 0)].n}
	if got := names(g.containing("HELLO", found, 10)); got != "Hello-world-2.12.1" {
		t.Errorf("containing HELLO, hello-2.12 found before: %q", got)
	}
	if got := names(g.containing("2.12", nil, 1)); got != "hello-2.12" {
		t.Errorf("containing 2.12, limit 1: %q", got)
	}
	if got := g.containing("2.12", nil, 0); len(got) != 0 {
		t.Errorf("limit 0: %v", got)
	}
}

// TestGraphsOfGoneBuckets: the graphs of deleted buckets are let go by
// ForgetGone (the server's refresh of its bucket list); those of the
// buckets that exist stay.
func TestGraphsOfGoneBuckets(t *testing.T) {
	ctx := context.Background()
	names := []string{"keep", "gone-1", "gone-2", "gone-3"}
	st, svc := graphStore(t, names...)
	h := &Handler{store: st, objects: svc}
	for _, b := range names {
		if _, err := svc.Put(ctx, objects.PutInput{Bucket: b, Key: hashOf('a') + ".narinfo", Body: bytes.NewReader(nil)}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.bucketGraph(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	h.ForgetGone(func(b string) bool { return b == "keep" })
	var kept []string
	for b := range h.graphs.entries {
		kept = append(kept, b)
	}
	if len(kept) != 1 || kept[0] != "keep" {
		t.Errorf("graphs kept after ForgetGone: %v, want [keep]", kept)
	}
}
