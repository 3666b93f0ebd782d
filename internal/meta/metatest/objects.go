package metatest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
)

func testBuckets(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if bs, err := s.Buckets(ctx); err != nil || len(bs) != 0 {
		t.Fatalf("Buckets on an empty store = %v, %v; want none", bs, err)
	}
	names := []string{"nix-cache", "a", "b-1", "0bucket", "a.b", "zz"}
	for _, n := range names {
		mustCreateBucket(t, s, n)
	}
	err := s.CreateBucket(ctx, meta.Bucket{Name: "a", Created: when.Add(1)})
	wantErr(t, "CreateBucket of an existing bucket", err, meta.ErrBucketExists)

	b, err := s.Bucket(ctx, "a")
	if err != nil {
		t.Fatalf("Bucket: %v", err)
	}
	if b.Name != "a" {
		t.Errorf("Bucket name %q, want a", b.Name)
	}
	checkTime(t, "bucket created", b.Created, when) // not changed by the failed create
	_, err = s.Bucket(ctx, "missing")
	wantErr(t, "Bucket(missing)", err, meta.ErrNoSuchBucket)

	bs, err := s.Buckets(ctx)
	if err != nil {
		t.Fatalf("Buckets: %v", err)
	}
	want := []string{"0bucket", "a", "a.b", "b-1", "nix-cache", "zz"}
	var got []string
	for _, b := range bs {
		got = append(got, b.Name)
		checkTime(t, "Buckets "+b.Name, b.Created, when)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Buckets = %q, want %q", got, want)
	}

	wantErr(t, "DeleteBucket(missing)", s.DeleteBucket(ctx, "missing"), meta.ErrNoSuchBucket)
	if err := s.DeleteBucket(ctx, "a"); err != nil {
		t.Fatalf("DeleteBucket: %v", err)
	}
	_, err = s.Bucket(ctx, "a")
	wantErr(t, "Bucket after DeleteBucket", err, meta.ErrNoSuchBucket)
	wantErr(t, "second DeleteBucket", s.DeleteBucket(ctx, "a"), meta.ErrNoSuchBucket)
	mustCreateBucket(t, s, "a") // the name is free again
}

func testDeleteBucketNotEmpty(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	obj := newObject("b", "k")
	mustPut(t, s, obj)
	wantErr(t, "DeleteBucket with an object", s.DeleteBucket(ctx, "b"), meta.ErrBucketNotEmpty)
	if _, err := s.DeleteObject(ctx, "b", "k", nil); err != nil {
		t.Fatal(err)
	}
	up := meta.Upload{Bucket: "b", Key: "k", ID: "u1", Initiated: when}
	if err := s.CreateUpload(ctx, up); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteBucket with an upload", s.DeleteBucket(ctx, "b"), meta.ErrBucketNotEmpty)
	if _, err := s.AbortUpload(ctx, "b", "k", "u1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBucket(ctx, "b"); err != nil {
		t.Fatalf("DeleteBucket of the emptied bucket: %v", err)
	}
}

func testObjects(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	mustCreateBucket(t, s, "other")

	_, err := s.Object(ctx, "b", "k")
	wantErr(t, "Object before put", err, meta.ErrNoSuchKey)

	v1 := newObject("b", "k")
	checkGarbage(t, "first put", mustPut(t, s, v1))
	checkObject(t, mustObject(t, s, "b", "k"), v1, true)
	_, err = s.Object(ctx, "other", "k")
	wantErr(t, "Object in another bucket", err, meta.ErrNoSuchKey)

	// A multipart-style object with no SHA-256, no headers and two segments.
	a, b := newBlob(5<<20), newBlob(7)
	v2 := meta.Object{Bucket: "b", Key: "k", Size: a.Size + b.Size, ETag: "abc-2",
		Modified: when.Add(1000), PartsCount: 2, Segments: []meta.Segment{a, b}}
	checkGarbage(t, "overwrite", mustPut(t, s, v2), v1.Segments...)
	checkObject(t, mustObject(t, s, "b", "k"), v2, true)

	// An empty object without segments.
	v3 := meta.Object{Bucket: "b", Key: "k", ETag: "d41d8cd98f00b204e9800998ecf8427e", Modified: when}
	checkGarbage(t, "overwrite with an empty object", mustPut(t, s, v3), a, b)
	checkObject(t, mustObject(t, s, "b", "k"), v3, true)
	v4 := newObject("b", "k")
	checkGarbage(t, "overwrite the empty object", mustPut(t, s, v4))

	g, err := s.DeleteObject(ctx, "b", "k", nil)
	if err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	checkGarbage(t, "delete", g, v4.Segments...)
	_, err = s.Object(ctx, "b", "k")
	wantErr(t, "Object after delete", err, meta.ErrNoSuchKey)

	g, err = s.DeleteObject(ctx, "b", "k", nil)
	if err != nil {
		t.Fatalf("DeleteObject of a missing key: %v", err)
	}
	checkGarbage(t, "delete of a missing key", g)
}

func testObjectMissingBucket(t *testing.T, s meta.Store) {
	ctx := t.Context()
	_, err := s.Object(ctx, "nope", "k")
	wantErr(t, "Object", err, meta.ErrNoSuchBucket)
	_, err = s.PutObject(ctx, newObject("nope", "k"), nil)
	wantErr(t, "PutObject", err, meta.ErrNoSuchBucket)
	_, err = s.DeleteObject(ctx, "nope", "k", nil)
	wantErr(t, "DeleteObject", err, meta.ErrNoSuchBucket)
	_, err = s.ScanObjects(ctx, meta.ScanQuery{Bucket: "nope", Limit: 10})
	wantErr(t, "ScanObjects", err, meta.ErrNoSuchBucket)
	err = s.CreateUpload(ctx, meta.Upload{Bucket: "nope", Key: "k", ID: "u", Initiated: when})
	wantErr(t, "CreateUpload", err, meta.ErrNoSuchBucket)
	_, err = s.ScanUploads(ctx, meta.ScanQuery{Bucket: "nope", Limit: 10})
	wantErr(t, "ScanUploads", err, meta.ErrNoSuchBucket)
}

// testManySegments stores an object of 10,000 segments, the most a
// multipart upload can have.
func testManySegments(t *testing.T, s meta.Store) {
	mustCreateBucket(t, s, "b")
	obj := newObject("b", "big")
	obj.Segments = nil
	obj.Size = 0
	for range 10000 {
		seg := newBlob(5 << 20)
		obj.Segments = append(obj.Segments, seg)
		obj.Size += seg.Size
	}
	obj.PartsCount = len(obj.Segments)
	mustPut(t, s, obj)
	checkObject(t, mustObject(t, s, "b", "big"), obj, true)
	g, err := s.DeleteObject(t.Context(), "b", "big", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkGarbage(t, "delete", g, obj.Segments...)
}

var errVeto = errors.New("vetoed by check")

func testPutCheck(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")

	// On a missing key the check sees nil; its error aborts.
	var called int
	_, err := s.PutObject(ctx, newObject("b", "k"), func(cur *meta.Object) error {
		called++
		if cur != nil {
			t.Errorf("check saw %+v for a missing key, want nil", cur)
		}
		return errVeto
	})
	if err != errVeto {
		t.Fatalf("PutObject with a failing check: error %v, want the check's error unchanged", err)
	}
	if called != 1 {
		t.Errorf("check called %d times, want 1", called)
	}
	_, err = s.Object(ctx, "b", "k")
	wantErr(t, "Object after a vetoed put", err, meta.ErrNoSuchKey)

	v1 := newObject("b", "k")
	if _, err := s.PutObject(ctx, v1, func(cur *meta.Object) error { return nil }); err != nil {
		t.Fatalf("PutObject with a passing check: %v", err)
	}

	// The check sees the whole current object; a wrapped sentinel survives.
	v2 := newObject("b", "k")
	v2.ETag = "ffffffffffffffffffffffffffffffff"
	g, err := s.PutObject(ctx, v2, func(cur *meta.Object) error {
		if cur == nil {
			t.Error("check saw nil, want the current object")
			return errVeto
		}
		checkObject(t, *cur, v1, true)
		return fmt.Errorf("if-match %q: %w", "nope", meta.ErrPreconditionFailed)
	})
	wantErr(t, "PutObject with If-Match failing", err, meta.ErrPreconditionFailed)
	checkGarbage(t, "vetoed put", g)
	checkObject(t, mustObject(t, s, "b", "k"), v1, true)
	checkReferenced(t, s, map[string]bool{v1.Segments[0].Blob: true, v2.Segments[0].Blob: false})

	g, err = s.PutObject(ctx, v2, func(cur *meta.Object) error {
		if cur == nil || cur.ETag != v1.ETag {
			return meta.ErrPreconditionFailed
		}
		return nil
	})
	if err != nil {
		t.Fatalf("PutObject with If-Match passing: %v", err)
	}
	checkGarbage(t, "put after a passing check", g, v1.Segments...)
	checkObject(t, mustObject(t, s, "b", "k"), v2, true)
}

func testDeleteCheck(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	obj := newObject("b", "k")
	mustPut(t, s, obj)

	g, err := s.DeleteObject(ctx, "b", "k", func(cur *meta.Object) error {
		if cur == nil {
			t.Error("check saw nil, want the current object")
			return errVeto
		}
		checkObject(t, *cur, obj, true)
		return errVeto
	})
	if err != errVeto {
		t.Fatalf("DeleteObject with a failing check: error %v, want the check's error unchanged", err)
	}
	checkGarbage(t, "vetoed delete", g)
	checkObject(t, mustObject(t, s, "b", "k"), obj, true)

	_, err = s.DeleteObject(ctx, "b", "missing", func(cur *meta.Object) error {
		if cur != nil {
			t.Errorf("check saw %+v for a missing key, want nil", cur)
		}
		return errVeto
	})
	if err != errVeto {
		t.Errorf("DeleteObject of a missing key with a failing check: error %v, want the check's error", err)
	}

	g, err = s.DeleteObject(ctx, "b", "k", func(cur *meta.Object) error { return nil })
	if err != nil {
		t.Fatalf("DeleteObject with a passing check: %v", err)
	}
	checkGarbage(t, "delete", g, obj.Segments...)
}

// testSharedBlob checks that a blob two objects share is garbage only once
// the last of them lets go of it (a zero-copy CopyObject may share blobs).
func testSharedBlob(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	a := newObject("b", "a")
	c := a
	c.Key = "c"
	mustPut(t, s, a)
	mustPut(t, s, c)
	blob := a.Segments[0].Blob

	g, err := s.DeleteObject(ctx, "b", "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkGarbage(t, "delete of one of two sharers", g)
	checkReferenced(t, s, map[string]bool{blob: true})
	checkObject(t, mustObject(t, s, "b", "c"), c, true)

	// Rewriting an object with its own blob is not garbage either.
	c.ETag = "new"
	checkGarbage(t, "overwrite keeping the blob", mustPut(t, s, c))
	checkReferenced(t, s, map[string]bool{blob: true})

	g, err = s.DeleteObject(ctx, "b", "c", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkGarbage(t, "delete of the last sharer", g, c.Segments...)
	checkReferenced(t, s, map[string]bool{blob: false})

	// A part may share a blob with an object (a zero-copy UploadPartCopy):
	// neither letting go alone makes it garbage.
	x := newObject("b", "x")
	mustPut(t, s, x)
	u := newUpload("b", "y", "shared-upload")
	mustCreateUpload(t, s, u)
	p := newPart(1)
	p.Segment = x.Segments[0]
	p.Size = p.Segment.Size
	for range 2 { // putting the same part again replaces it with itself
		g, err := s.PutPart(ctx, "b", "y", u.ID, p)
		if err != nil {
			t.Fatal(err)
		}
		checkGarbage(t, "part sharing an object's blob", g)
	}
	g, err = s.DeleteObject(ctx, "b", "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkGarbage(t, "delete of an object whose blob a part shares", g)
	checkReferenced(t, s, map[string]bool{p.Segment.Blob: true})
	mustPut(t, s, x)
	g, err = s.AbortUpload(ctx, "b", "y", u.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkGarbage(t, "abort of an upload whose part an object shares", g)
	g, err = s.DeleteObject(ctx, "b", "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkGarbage(t, "delete of the last sharer", g, x.Segments...)
}
