package pathdelete

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nixgraph"
	"github.com/nixbucket/nixbucket/internal/objects"
)

func hash(name string) string { return name + strings.Repeat("0", nixgraph.HashLen-len(name)) }

func narinfo(name, url, deriver string, refs ...string) meta.Narinfo {
	var rs []string
	for _, r := range refs {
		rs = append(rs, hash(r)+"-"+r)
	}
	return meta.Narinfo{Hash: hash(name), StorePath: "/nix/store/" + hash(name) + "-" + name, URL: url, Deriver: deriver, References: rs}
}

// index: app → lib → libc; app2 → libc; lib and lib-dup share a NAR;
// app and app-doc share a deriver.
func index() *Index {
	ix := NewIndex()
	for _, n := range []meta.Narinfo{
		narinfo("app", "nar/app.nar.xz", "d-app.drv", "app", "lib"),
		narinfo("app-doc", "nar/doc.nar.xz", "d-app.drv"),
		narinfo("lib", "nar/lib.nar.xz", "d-lib.drv", "libc"),
		narinfo("lib-dup", "nar/lib.nar.xz", "unknown-deriver"),
		narinfo("libc", "nar/libc.nar.xz", ""),
		narinfo("app2", "nar/app2.nar.xz", "d-app2.drv", "libc"),
	} {
		ix.Add(n)
	}
	return ix
}

func TestPlan(t *testing.T) {
	ix := index()
	if h, ok := ix.Lookup("/nix/store/" + hash("lib") + "-lib"); !ok || h != hash("lib") {
		t.Errorf("Lookup(store path) = %q, %v", h, ok)
	}
	if _, ok := ix.Lookup(hash("nothere")); ok {
		t.Error("Lookup(missing) found it")
	}
	p := ix.Plan("b", nixgraph.NewSet(hash("app"), hash("lib")))
	if want := []string{hash("app"), hash("lib")}; !slices.Equal(p.Order, want) {
		t.Errorf("Order = %v, want %v", p.Order, want)
	}
	// lib's NAR is still lib-dup's; app's deriver still app-doc's.
	if want := []string{"nar/app.nar.xz"}; !slices.Equal(p.NARs, want) {
		t.Errorf("NARs = %v, want %v", p.NARs, want)
	}
	if want := []string{"log/d-lib.drv"}; !slices.Equal(p.Logs, want) {
		t.Errorf("Logs = %v, want %v", p.Logs, want)
	}
	if want := []string{hash("app") + ".ls", hash("lib") + ".ls"}; !slices.Equal(p.Listings, want) {
		t.Errorf("Listings = %v, want %v", p.Listings, want)
	}
	all := ix.Plan("b", nixgraph.NewSet(hash("app"), hash("app-doc"), hash("lib"), hash("lib-dup")))
	if want := []string{"nar/app.nar.xz", "nar/doc.nar.xz", "nar/lib.nar.xz"}; !slices.Equal(all.NARs, want) {
		t.Errorf("NARs = %v, want %v", all.NARs, want)
	}
	if want := []string{"log/d-app.drv", "log/d-lib.drv"}; !slices.Equal(all.Logs, want) {
		t.Errorf("Logs = %v, want %v (unknown-deriver is none)", all.Logs, want)
	}
}

// fakeObjects holds object sizes and records deletes.
type fakeObjects struct {
	sizes   map[string]int64
	deleted []string
}

func (f *fakeObjects) Head(_ context.Context, bucket, key string) (meta.Object, error) {
	n, ok := f.sizes[key]
	if !ok {
		return meta.Object{}, meta.ErrNoSuchKey
	}
	return meta.Object{Bucket: bucket, Key: key, Size: n}, nil
}

func (f *fakeObjects) Delete(_ context.Context, _, key string, _ objects.Conditions) error {
	f.deleted = append(f.deleted, key)
	delete(f.sizes, key)
	return nil
}

func TestYoung(t *testing.T) {
	ix := NewIndex()
	now := time.Now()
	old, young := narinfo("old", "nar/old", ""), narinfo("young", "nar/young", "")
	old.Created, young.Created = now.Add(-2*time.Hour), now.Add(-time.Minute)
	ix.Add(old)
	ix.Add(young)
	is := ix.Young(now.Add(-DefaultGrace))
	if is(hash("old")) || !is(hash("young")) {
		t.Errorf("Young: old %v, young %v; want false, true", is(hash("old")), is(hash("young")))
	}
}

func TestMeasureExecute(t *testing.T) {
	ix := index()
	f := &fakeObjects{sizes: map[string]int64{
		hash("app") + ".narinfo": 500, hash("lib") + ".narinfo": 400,
		"nar/app.nar.xz": 10000, "nar/lib.nar.xz": 20000,
		hash("app") + ".ls": 70, "log/d-lib.drv": 3,
	}}
	p := ix.Plan("b", nixgraph.NewSet(hash("app"), hash("lib")))
	s, err := Measure(t.Context(), f, &p)
	if err != nil {
		t.Fatal(err)
	}
	want := Sizes{Narinfos: 900, NARs: 10000, Listings: 70, Logs: 3, NarinfoCount: 2, NARCount: 1, ListingCount: 1, LogCount: 1}
	if s != want || s.Total() != 10973 {
		t.Errorf("Measure = %+v, want %+v", s, want)
	}
	var done []string
	if err := Execute(t.Context(), f, p, func(k string) { done = append(done, k) }); err != nil {
		t.Fatal(err)
	}
	wantDel := []string{hash("app") + ".narinfo", hash("lib") + ".narinfo", "nar/app.nar.xz", hash("app") + ".ls", "log/d-lib.drv"}
	if !slices.Equal(f.deleted, wantDel) || !slices.Equal(done, wantDel) {
		t.Errorf("deleted %v (reported %v), want %v", f.deleted, done, wantDel)
	}
	if _, ok := f.sizes["nar/lib.nar.xz"]; !ok {
		t.Error("lib-dup's NAR was deleted")
	}
}
