package objects_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/nixbucket/nixbucket/internal/checksum"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/sqlite"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/storage/localfs"
)

const bucket = "bkt"

func newService(t *testing.T) *objects.Service {
	t.Helper()
	return newServiceOver(t, nil)
}

// newServiceOver is newService with the metadata store passed through wrap
// (nil: used as is), for tests that watch or alter its calls.
func newServiceOver(t *testing.T, wrap func(meta.Store) meta.Store) *objects.Service {
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
	var m meta.Store = store
	if wrap != nil {
		m = wrap(store)
	}
	s := &objects.Service{Meta: m, Blobs: blobs}
	if err := s.CreateBucket(context.Background(), bucket); err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t *testing.T, s *objects.Service, key string, body []byte) meta.Object {
	t.Helper()
	o, err := s.Put(context.Background(), objects.PutInput{Bucket: bucket, Key: key, Body: bytes.NewReader(body), Size: int64(len(body))})
	if err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
	return o
}

func read(t *testing.T, s *objects.Service, key string) []byte {
	t.Helper()
	_, r, err := s.Get(context.Background(), bucket, key)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPutGetHashes(t *testing.T) {
	s := newService(t)
	body := []byte("hello, nix")
	o := put(t, s, "k", body)
	m := md5.Sum(body)
	sh := sha256.Sum256(body)
	if o.ETag != hex.EncodeToString(m[:]) || !bytes.Equal(o.SHA256, sh[:]) || o.Size != int64(len(body)) {
		t.Fatalf("got %+v", o)
	}
	if got := read(t, s, "k"); !bytes.Equal(got, body) {
		t.Fatalf("read %q", got)
	}
}

func TestPutVerify(t *testing.T) {
	body := []byte("some bytes")
	good := md5.Sum(body)
	goodSHA := sha256.Sum256(body)
	crc := checksum.CRC32C.New()
	crc.Write(body)
	goodCRC := checksum.Encode(crc.Sum(nil))
	cases := []struct {
		name string
		v    objects.Verify
		size int64
		want error
	}{
		{"md5 ok", objects.Verify{MD5: good[:]}, 10, nil},
		{"md5 bad", objects.Verify{MD5: make([]byte, 16)}, 10, objects.ErrBadDigest},
		{"sha ok", objects.Verify{SHA256: goodSHA[:]}, 10, nil},
		{"sha bad", objects.Verify{SHA256: make([]byte, 32)}, 10, objects.ErrSHA256Mismatch},
		{"crc ok", objects.Verify{ChecksumAlgorithm: checksum.CRC32C, Checksum: func() string { return goodCRC }}, 10, nil},
		{"crc bad", objects.Verify{ChecksumAlgorithm: checksum.CRC32C, Checksum: func() string { return "AAAAAA==" }}, 10, objects.ErrChecksumMismatch},
		{"short", objects.Verify{}, 11, objects.ErrIncompleteBody},
		{"long", objects.Verify{}, 9, objects.ErrIncompleteBody},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newService(t)
			put(t, s, "k", []byte("old"))
			_, err := s.Put(context.Background(), objects.PutInput{Bucket: bucket, Key: "k", Body: iotest.HalfReader(bytes.NewReader(body)), Size: c.size, Verify: c.v})
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			want := body
			if c.want != nil {
				want = []byte("old") // a refused write changes nothing
			}
			if got := read(t, s, "k"); !bytes.Equal(got, want) {
				t.Fatalf("read %q, want %q", got, want)
			}
		})
	}
}

func TestFailedBodyLeavesOldObject(t *testing.T) {
	s := newService(t)
	put(t, s, "k", []byte("old"))
	body := io.MultiReader(bytes.NewReader(make([]byte, 1<<20)), iotest.ErrReader(errors.New("client went away")))
	if _, err := s.Put(context.Background(), objects.PutInput{Bucket: bucket, Key: "k", Body: body, Size: 2 << 20}); err == nil {
		t.Fatal("put succeeded")
	}
	if got := read(t, s, "k"); string(got) != "old" {
		t.Fatalf("read %q", got)
	}
	if n, err := s.Sweep(context.Background(), time.Now().Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("sweep found %d leftovers (err %v): the failed write left a blob", n, err)
	}
}

func TestConditionalPut(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	in := func(c objects.Conditions) objects.PutInput {
		return objects.PutInput{Bucket: bucket, Key: "k", Body: strings.NewReader("x"), Size: 1, Cond: c}
	}
	if _, err := s.Put(ctx, in(objects.Conditions{IfMatch: "*"})); !errors.Is(err, meta.ErrNoSuchKey) {
		t.Fatalf("If-Match on missing: %v", err)
	}
	o, err := s.Put(ctx, in(objects.Conditions{IfNoneMatch: "*"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, in(objects.Conditions{IfNoneMatch: "*"})); !errors.Is(err, meta.ErrPreconditionFailed) {
		t.Fatalf("second If-None-Match: %v", err)
	}
	if _, err := s.Put(ctx, in(objects.Conditions{IfMatch: `"deadbeef"`})); !errors.Is(err, meta.ErrPreconditionFailed) {
		t.Fatalf("wrong If-Match: %v", err)
	}
	if _, err := s.Put(ctx, in(objects.Conditions{IfMatch: `"` + o.ETag + `"`})); err != nil {
		t.Fatalf("right If-Match: %v", err)
	}
}

func TestList(t *testing.T) {
	s := newService(t)
	keys := []string{"a", "a/b", "a/c/d", "a/c/e", "a!", "b", "b/x", "c/y/z", "é", "photos/2006/jan", "photos/2006/feb", "photos/2007/mar"}
	for _, k := range keys {
		put(t, s, k, []byte(k))
	}
	cases := []struct {
		in       objects.ListInput
		objs     []string
		prefixes []string
		trunc    bool
	}{
		{objects.ListInput{}, sorted(keys), nil, false},
		{objects.ListInput{Delimiter: "/"}, []string{"a", "a!", "b", "é"}, []string{"a/", "b/", "c/", "photos/"}, false},
		{objects.ListInput{Prefix: "a/", Delimiter: "/"}, []string{"a/b"}, []string{"a/c/"}, false},
		{objects.ListInput{Prefix: "photos/", Delimiter: "/"}, nil, []string{"photos/2006/", "photos/2007/"}, false},
		{objects.ListInput{Prefix: "photos/2006/"}, []string{"photos/2006/feb", "photos/2006/jan"}, nil, false},
		{objects.ListInput{MaxKeys: 3}, []string{"a", "a!", "a/b"}, nil, true},
		{objects.ListInput{Delimiter: "/", MaxKeys: 2}, []string{"a", "a!"}, nil, true},
		{objects.ListInput{Delimiter: "/", After: "a!", MaxKeys: 2}, []string{"b"}, []string{"a/"}, true},
		{objects.ListInput{Delimiter: "/", After: "a/"}, []string{"b", "é"}, []string{"b/", "c/", "photos/"}, false},
		{objects.ListInput{After: "photos/2006/jan"}, []string{"photos/2007/mar", "é"}, nil, false},
		// A marker within a common prefix: the prefix sorts before it, so it is not listed again.
		{objects.ListInput{Delimiter: "/", After: "a/b"}, []string{"b", "é"}, []string{"b/", "c/", "photos/"}, false},
		{objects.ListInput{Prefix: "photos/", Delimiter: "/", After: "photos/2006/feb"}, nil, []string{"photos/2007/"}, false},
		{objects.ListInput{Delimiter: "/c/", Prefix: "a", After: "a/c/d"}, nil, nil, false},
		{objects.ListInput{Prefix: "zzz"}, nil, nil, false},
		{objects.ListInput{Delimiter: "/c/", Prefix: "a"}, []string{"a", "a!", "a/b"}, []string{"a/c/"}, false},
	}
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if c.in.MaxKeys == 0 {
				c.in.MaxKeys = 1000
			}
			c.in.Bucket = bucket
			out, err := s.List(context.Background(), c.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range out.Objects {
				got = append(got, o.Key)
			}
			if !slices.Equal(got, c.objs) || !slices.Equal(out.CommonPrefixes, c.prefixes) || out.Truncated != c.trunc {
				t.Fatalf("%+v:\n got %q %q %v\nwant %q %q %v", c.in, got, out.CommonPrefixes, out.Truncated, c.objs, c.prefixes, c.trunc)
			}
		})
	}
}

func sorted(ks []string) []string {
	c := slices.Clone(ks)
	slices.Sort(c)
	return c
}

// TestListPagingVisitsEachOnce pages through random keys with a delimiter
// and checks every key or prefix comes exactly once, in order.
func TestListPagingVisitsEachOnce(t *testing.T) {
	s := newService(t)
	rng := rand.New(rand.NewSource(1))
	want := map[string]bool{}
	for i := 0; i < 300; i++ {
		k := fmt.Sprintf("%c/%c%d", 'a'+rng.Intn(5), 'a'+rng.Intn(3), rng.Intn(20))
		if rng.Intn(3) == 0 {
			k = fmt.Sprintf("top%d", i)
		}
		put(t, s, k, nil)
		if i, ok := strings.CutPrefix(k, ""); ok && strings.Contains(i, "/") {
			want[k[:2]] = true
		} else {
			want[k] = true
		}
	}
	for _, page := range []int{1, 2, 7, 1000} {
		var got []string
		after := ""
		for {
			out, err := s.List(context.Background(), objects.ListInput{Bucket: bucket, Delimiter: "/", After: after, MaxKeys: page})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out.Objects {
				got = append(got, o.Key)
			}
			got = append(got, out.CommonPrefixes...)
			if !out.Truncated {
				break
			}
			after = out.Last
		}
		slices.Sort(got)
		if len(got) != len(want) || slices.Compact(slices.Clone(got)) == nil || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("page %d: got %d entries (%d distinct), want %d", page, len(got), len(slices.Compact(slices.Clone(got))), len(want))
		}
		for _, k := range got {
			if !want[k] {
				t.Fatalf("page %d: unexpected %q", page, k)
			}
		}
	}
}

func TestMultipart(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	put(t, s, "big", []byte("old"))
	u, err := s.CreateUpload(ctx, bucket, "big", meta.Headers{ContentType: "application/x-nix-nar"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	parts := [][]byte{bytes.Repeat([]byte("a"), objects.MinPartSize), bytes.Repeat([]byte("b"), objects.MinPartSize), []byte("tail")}
	var done []objects.CompletedPart
	for i, p := range parts {
		pt, err := s.UploadPart(ctx, objects.PartInput{Bucket: bucket, Key: "big", UploadID: u.ID, Number: i + 1, Body: bytes.NewReader(p), Size: int64(len(p))})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, objects.CompletedPart{Number: i + 1, ETag: `"` + pt.ETag + `"`})
	}
	bad := []struct {
		parts []objects.CompletedPart
		want  error
	}{
		{[]objects.CompletedPart{done[1], done[0]}, objects.ErrInvalidPartOrder},
		{[]objects.CompletedPart{{Number: 1, ETag: "nope"}}, objects.ErrInvalidPart},
		{[]objects.CompletedPart{{Number: 9, ETag: done[0].ETag}}, objects.ErrInvalidPart},
		{[]objects.CompletedPart{done[0], {Number: 4, ETag: done[2].ETag}}, objects.ErrInvalidPart},
		{nil, objects.ErrInvalidArgument},
	}
	for _, b := range bad {
		if _, err := s.CompleteUpload(ctx, bucket, "big", u.ID, b.parts, objects.Conditions{}, objects.CompleteChecksum{}); !errors.Is(err, b.want) {
			t.Errorf("complete %v: err %v, want %v", b.parts, err, b.want)
		}
	}
	if got := read(t, s, "big"); string(got) != "old" {
		t.Fatal("failed completion changed the object")
	}
	// A small part that is not last.
	u2, _ := s.CreateUpload(ctx, bucket, "small", meta.Headers{}, "", "")
	for n := 1; n <= 2; n++ {
		s.UploadPart(ctx, objects.PartInput{Bucket: bucket, Key: "small", UploadID: u2.ID, Number: n, Body: strings.NewReader("tiny"), Size: 4})
	}
	e := `"` + hex.EncodeToString(md5Sum("tiny")) + `"`
	if _, err := s.CompleteUpload(ctx, bucket, "small", u2.ID, []objects.CompletedPart{{Number: 1, ETag: e}, {Number: 2, ETag: e}}, objects.Conditions{}, objects.CompleteChecksum{}); !errors.Is(err, objects.ErrEntityTooSmall) {
		t.Fatalf("small part: %v", err)
	}
	// Small parts out of order: the order is the list's fault, told first.
	if _, err := s.CompleteUpload(ctx, bucket, "small", u2.ID, []objects.CompletedPart{{Number: 2, ETag: e}, {Number: 1, ETag: e}}, objects.Conditions{}, objects.CompleteChecksum{}); !errors.Is(err, objects.ErrInvalidPartOrder) {
		t.Fatalf("small parts out of order: %v", err)
	}
	o, err := s.CompleteUpload(ctx, bucket, "big", u.ID, done, objects.Conditions{}, objects.CompleteChecksum{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(o.ETag, "-3") || o.PartsCount != 3 {
		t.Fatalf("etag %q parts %d", o.ETag, o.PartsCount)
	}
	got := read(t, s, "big")
	if !bytes.Equal(got, bytes.Join(parts, nil)) {
		t.Fatal("multipart object reads back wrong")
	}
	// Seek across segment boundaries.
	_, r, _ := s.Get(ctx, bucket, "big")
	defer r.Close()
	r.Seek(objects.MinPartSize-2, io.SeekStart)
	buf := make([]byte, 4)
	if _, err := io.ReadFull(r, buf); err != nil || string(buf) != "aabb" {
		t.Fatalf("read across boundary: %q %v", buf, err)
	}
	if _, err := s.Upload(ctx, bucket, "big", u.ID); !errors.Is(err, meta.ErrNoSuchUpload) {
		t.Fatalf("upload still there: %v", err)
	}
	if err := s.AbortUpload(ctx, bucket, "small", u2.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Sweep(ctx, time.Now().Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("sweep removed %d blobs (err %v): garbage was not discarded", n, err)
	}
}

// TestReaderSegments runs iotest.TestReader over an object made of
// several small blobs, including an empty one.
func TestReaderSegments(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	var segs []meta.Segment
	var all []byte
	for _, part := range []string{"first-", "", "second-segment-", "x", "last"} {
		w, err := s.Blobs.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(part))
		id, err := w.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		segs = append(segs, meta.Segment{Blob: id, Size: int64(len(part))})
		all = append(all, part...)
	}
	obj := meta.Object{Bucket: bucket, Key: "segs", Size: int64(len(all)), ETag: "x-5", Modified: time.Now(), PartsCount: 5, Segments: segs}
	if _, err := s.Meta.PutObject(ctx, obj, nil); err != nil {
		t.Fatal(err)
	}
	_, r, err := s.Get(ctx, bucket, "segs")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := iotest.TestReader(r, all); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if err := iotest.TestReader(io.NewSectionReader(readerAt{r}, 0, int64(len(all))), all); err != nil {
		t.Fatal(err)
	}
}

func md5Sum(s string) []byte { m := md5.Sum([]byte(s)); return m[:] }

// readerAt adapts the seeking Reader for iotest.TestReader.
type readerAt struct{ r *objects.Reader }

func (a readerAt) ReadAt(p []byte, off int64) (int, error) {
	if _, err := a.r.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	return io.ReadFull(a.r, p)
}

func TestSweepRemovesOrphans(t *testing.T) {
	s := newService(t)
	put(t, s, "keep", []byte("x"))
	w, _ := s.Blobs.Create(context.Background())
	w.Write([]byte("orphan"))
	if _, err := w.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	n, err := s.Sweep(context.Background(), time.Now().Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if got := read(t, s, "keep"); string(got) != "x" {
		t.Fatal("sweep removed a live blob")
	}
}

func TestBucketNames(t *testing.T) {
	for name, ok := range map[string]bool{
		"nix-cache": true, "a.b.c": true, "abc": true, "ab": false, "Nix": false, "a..b": false,
		"-ab": false, "ab-": false, "192.168.1.1": false, "xn--abc": false, "abc-s3alias": false,
		strings.Repeat("a", 63): true, strings.Repeat("a", 64): false, "a_b": false,
		"foo-.bar": false, "foo.-bar": false, "foo-bar.baz-1": true, "192.168.05.4": false, "999.1.1.1": false,
		"1.2.3": true, "1.2.3.4.5": true, "1.2.3.a": true, "sthree-foo": false, "foo--ol-s3": false,
		"amzn-s3-demo-x": false, "foo.mrap": false, "foo--x-s3": false, "foo--table-s3": false, "xn-foo": true,
	} {
		if err := objects.ValidBucketName(name); (err == nil) != ok {
			t.Errorf("%q: err %v, want ok=%v", name, err, ok)
		}
	}
}

// TestInlineAndBlobOverwrites switches a key between inline and blob
// storage and checks each version reads back and nothing leaks.
func TestInlineAndBlobOverwrites(t *testing.T) {
	s := newService(t)
	small := []byte("narinfo-sized")
	large := bytes.Repeat([]byte("n"), objects.InlineMax+1)
	for _, body := range [][]byte{small, large, small, nil, large} {
		o := put(t, s, "k", body)
		if inline := o.Segments[0].Inline(); inline != (len(body) <= objects.InlineMax) {
			t.Fatalf("%d bytes: inline=%v", len(body), inline)
		}
		if got := read(t, s, "k"); !bytes.Equal(got, body) {
			t.Fatalf("%d bytes read back as %d", len(body), len(got))
		}
	}
	if err := s.Delete(context.Background(), bucket, "k", objects.Conditions{}); err != nil {
		t.Fatal(err)
	}
	var blobs int
	s.Blobs.Walk(context.Background(), func(string, time.Time) error { blobs++; return nil })
	if blobs != 0 {
		t.Fatalf("%d blobs left after delete", blobs)
	}
}

// TestMemoFollowsWrites checks the in-memory answers for small and missing
// objects never outlive a write, including writes racing reads.
func TestMemoFollowsWrites(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	if _, err := s.Head(ctx, bucket, "k"); !errors.Is(err, meta.ErrNoSuchKey) {
		t.Fatalf("missing key: %v", err)
	}
	put(t, s, "k", []byte("v1")) // was remembered as missing
	if got := read(t, s, "k"); string(got) != "v1" {
		t.Fatalf("after put: %q", got)
	}
	put(t, s, "k", []byte("v2"))
	if got := read(t, s, "k"); string(got) != "v2" {
		t.Fatalf("after overwrite: %q", got)
	}
	if err := s.Delete(ctx, bucket, "k", objects.Conditions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Head(ctx, bucket, "k"); !errors.Is(err, meta.ErrNoSuchKey) {
		t.Fatalf("after delete: %v", err)
	}
	// Readers racing a writer: once a put has returned, every read that
	// starts afterwards sees it.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			s.Head(ctx, bucket, "race")
		}
	}()
	for i := range 50 {
		want := fmt.Sprint("v", i)
		put(t, s, "race", []byte(want))
		if got := read(t, s, "race"); string(got) != want {
			t.Fatalf("read %q right after writing %q", got, want)
		}
	}
	<-done
}

// TestNoMemoSeesOtherWriters runs two Services, as two servers would, on
// one store: with NoMemo, a reader sees at once what the other wrote over
// a key it had read missing, then small, then deleted.
func TestNoMemoSeesOtherWriters(t *testing.T) {
	writer := newService(t)
	reader := &objects.Service{Meta: writer.Meta, Blobs: writer.Blobs, NoMemo: true}
	ctx := context.Background()
	if _, err := reader.Head(ctx, bucket, "k.narinfo"); !errors.Is(err, meta.ErrNoSuchKey) {
		t.Fatalf("Head before the write: %v, want ErrNoSuchKey", err)
	}
	for _, body := range []string{"one", "two"} {
		put(t, writer, "k.narinfo", []byte(body))
		if got := read(t, reader, "k.narinfo"); string(got) != body {
			t.Fatalf("read %q after the other wrote %q", got, body)
		}
	}
	if err := writer.Delete(ctx, bucket, "k.narinfo", objects.Conditions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := reader.Head(ctx, bucket, "k.narinfo"); !errors.Is(err, meta.ErrNoSuchKey) {
		t.Errorf("Head after the other deleted: %v, want ErrNoSuchKey", err)
	}
}
