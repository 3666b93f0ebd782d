package metatest

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// someTags are tags at S3's limits: ten of them, in no sorted order, a
// 128-character key, a 256-character value, an empty value, non-ASCII.
func someTags() []meta.Tag {
	return []meta.Tag{
		{Key: "zeta", Value: "last first"},
		{Key: strings.Repeat("k", 128), Value: strings.Repeat("v", 256)},
		{Key: "empty", Value: ""},
		{Key: "ünï", Value: "cödé + = & /"},
		{Key: "a", Value: "1"}, {Key: "b", Value: "2"}, {Key: "c", Value: "3"},
		{Key: "d", Value: "4"}, {Key: "e", Value: "5"}, {Key: "f", Value: "6"},
	}
}

func checkTags(t *testing.T, what string, got, want []meta.Tag) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: tags %q, want %q", what, got, want)
	}
}

// testTags: an object's tags are stored in order with it, replaced alone
// by SetObjectTags (nothing else of the object changes), replaced with
// the object by PutObject, carried from an upload to its object, and
// gone with the object.
func testTags(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	obj := newObject("b", "k")
	obj.Tags = someTags()
	mustPut(t, s, obj)
	got := mustObject(t, s, "b", "k")
	checkObject(t, got, obj, true)
	checkTags(t, "after PutObject", got.Tags, obj.Tags)
	objs, err := s.ScanObjects(ctx, meta.ScanQuery{Bucket: "b"})
	if err != nil || len(objs) != 1 {
		t.Fatalf("ScanObjects: %v, %v", objs, err)
	}

	for _, tags := range [][]meta.Tag{{{Key: "one", Value: "1"}}, nil, someTags()[:3]} {
		if err := s.SetObjectTags(ctx, "b", "k", tags); err != nil {
			t.Fatalf("SetObjectTags(%q): %v", tags, err)
		}
		got := mustObject(t, s, "b", "k")
		want := obj
		want.Tags = tags
		checkObject(t, got, want, true) // ETag, time, segments as they were
	}

	wantErr(t, "SetObjectTags of a missing key", s.SetObjectTags(ctx, "b", "nope", someTags()), meta.ErrNoSuchKey)
	wantErr(t, "SetObjectTags in a missing bucket", s.SetObjectTags(ctx, "nope", "k", someTags()), meta.ErrNoSuchBucket)
	wantErr(t, "SetObjectTags of a NUL key", s.SetObjectTags(ctx, "b", "k\x00", someTags()), meta.ErrNoSuchKey)

	// A new version of the object comes with its own tags, none here.
	plain := newObject("b", "k")
	mustPut(t, s, plain)
	checkTags(t, "after a PutObject without tags", mustObject(t, s, "b", "k").Tags, nil)

	u := newUpload("b", "m", "upload-tags")
	u.Tags = someTags()[2:5]
	mustCreateUpload(t, s, u)
	gotU, err := s.Upload(ctx, "b", "m", u.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkUpload(t, gotU, u)
	parts := mustPutParts(t, s, u, 2)
	done := multipartObject(u, parts...)
	done.Tags = gotU.Tags
	if _, err := s.CompleteUpload(ctx, u.ID, done, nil); err != nil {
		t.Fatal(err)
	}
	checkTags(t, "after CompleteUpload", mustObject(t, s, "b", "m").Tags, u.Tags)

	if _, err := s.DeleteObject(ctx, "b", "m", nil); err != nil {
		t.Fatal(err)
	}
	again := newObject("b", "m")
	mustPut(t, s, again)
	checkTags(t, "a new object where a tagged one was deleted", mustObject(t, s, "b", "m").Tags, nil)
}

// testSharedPart: a part that shares an object's blob (meta.Part.Shared)
// is accepted while an object refers to the blob, again under its own
// number, but not under a second number of the same upload, nor once no
// object refers to the blob: then a concurrent delete may have made it
// garbage.
func testSharedPart(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	src := newObject("b", "src")
	mustPut(t, s, src)
	u := newUpload("b", "dst", "upload-shared")
	mustCreateUpload(t, s, u)
	p := newPart(1)
	p.Segment, p.Size, p.Shared = src.Segments[0], src.Size, true
	for range 2 {
		g, err := s.PutPart(ctx, "b", "dst", u.ID, p)
		if err != nil {
			t.Fatalf("PutPart sharing an object's blob: %v", err)
		}
		checkGarbage(t, "shared part", g)
	}
	p2 := p
	p2.Number = 2
	_, err := s.PutPart(ctx, "b", "dst", u.ID, p2)
	wantErr(t, "a second part sharing the same blob", err, meta.ErrSharedBlob)

	unknown := newPart(3)
	unknown.Shared = true
	_, err = s.PutPart(ctx, "b", "dst", u.ID, unknown)
	wantErr(t, "a shared part naming a blob no object has", err, meta.ErrSharedBlob)

	if _, err := s.DeleteObject(ctx, "b", "src", nil); err != nil {
		t.Fatal(err)
	}
	p3 := p
	p3.Number = 1
	_, err = s.PutPart(ctx, "b", "dst", u.ID, p3)
	wantErr(t, "a shared part once its object is gone", err, meta.ErrSharedBlob)
	checkReferenced(t, s, map[string]bool{p.Segment.Blob: true}) // the first part holds it

	ps, err := s.Parts(ctx, "b", "dst", u.ID, 0, 0)
	if err != nil || len(ps) != 1 || ps[0].Segment.Blob != p.Segment.Blob || ps[0].Shared {
		t.Fatalf("Parts: %+v, %v; want the one shared part, not marked", ps, err)
	}
	obj := multipartObject(u, ps[0])
	g, err := s.CompleteUpload(ctx, u.ID, obj, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkGarbage(t, "completing with the shared part", g)
	checkReferenced(t, s, map[string]bool{p.Segment.Blob: true})
}

// testTagsShared: tags set through one instance are read through another.
func testTagsShared(t *testing.T, a meta.Store, reopen Reopen) {
	b := reopen(t)
	ctx := t.Context()
	mustCreateBucket(t, a, "b")
	mustPut(t, a, newObject("b", "k"))
	if err := a.SetObjectTags(ctx, "b", "k", someTags()); err != nil {
		t.Fatal(err)
	}
	checkTags(t, "through the other instance", mustObject(t, b, "b", "k").Tags, someTags())
}
