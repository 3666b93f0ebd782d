package objects

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/storage"
)

func isNoSuchKey(err error) bool { return errors.Is(err, meta.ErrNoSuchKey) }

// noSuchKey is meta.ErrNoSuchKey for one key, answered from memory: it
// costs one small allocation and formats only when printed.
type noSuchKey struct{ bucket, key string }

func (e *noSuchKey) Error() string {
	return fmt.Sprintf("object %q/%q: %v", e.bucket, e.key, meta.ErrNoSuchKey)
}

func (e *noSuchKey) Unwrap() error { return meta.ErrNoSuchKey }

// check applies the conditions to the current object (nil when none).
func (c Conditions) check(cur *meta.Object) error {
	if c.IfMatch != "" {
		if cur == nil {
			return meta.ErrNoSuchKey
		}
		if c.IfMatch != "*" && !ETagIn(c.IfMatch, cur.ETag, true) {
			return meta.ErrPreconditionFailed
		}
	}
	if c.IfNoneMatch != "" && cur != nil {
		if c.IfNoneMatch == "*" || ETagIn(c.IfNoneMatch, cur.ETag, false) {
			return meta.ErrPreconditionFailed
		}
	}
	if c.MatchSize != nil && cur != nil && cur.Size != *c.MatchSize {
		return meta.ErrPreconditionFailed
	}
	if !c.MatchModified.IsZero() && cur != nil && !cur.Modified.Truncate(time.Second).Equal(c.MatchModified.Truncate(time.Second)) {
		return meta.ErrPreconditionFailed
	}
	if !c.UnmodifiedSince.IsZero() && cur != nil && cur.Modified.After(c.UnmodifiedSince) {
		return meta.ErrPreconditionFailed
	}
	if n := narinfoOf(cur); !c.UnusedSince.IsZero() && n != nil && (n.LastAccess.After(c.UnusedSince) || n.Created.After(c.UnusedSince)) {
		return meta.ErrPreconditionFailed
	}
	return nil
}

// narinfoOf is cur's index record, nil when it has none.
func narinfoOf(cur *meta.Object) *meta.Narinfo {
	if cur == nil {
		return nil
	}
	return cur.Narinfo
}

// ETagIn reports whether a header's ETag list ("a", W/"b", c, or *)
// names etag. strong is If-Match's comparison (RFC 9110 §13.1.1): a weak
// entry never matches there; If-None-Match compares weakly.
func ETagIn(header, etag string, strong bool) bool {
	for _, e := range strings.Split(header, ",") {
		e = strings.TrimSpace(e)
		if w, ok := strings.CutPrefix(e, "W/"); ok {
			if strong {
				continue
			}
			e = w
		}
		if e == "*" || strings.Trim(e, `"`) == etag {
			return true
		}
	}
	return false
}

// Head returns an object's record.
func (s *Service) Head(ctx context.Context, bucket, key string) (meta.Object, error) {
	if err := ValidKey(key); err != nil {
		return meta.Object{}, err
	}
	if !s.inMemory(ctx, bucket) {
		return s.Meta.Object(ctx, bucket, key)
	}
	e, t, ok := s.memo.get(s.generation(ctx), bucket, key)
	if ok {
		if e.missing {
			return meta.Object{}, &noSuchKey{bucket, key}
		}
		return e.obj, nil
	}
	if s.excludes(bucket, key) {
		return meta.Object{}, &noSuchKey{bucket, key}
	}
	obj, err := s.Meta.Object(ctx, bucket, key)
	switch {
	case err == nil:
		s.memo.put(t, bucket, key, memoEntry{obj: obj})
	case errors.Is(err, meta.ErrNoSuchKey):
		s.memo.put(t, bucket, key, memoEntry{missing: true})
		s.buildFilter(bucket, 0)
	}
	return obj, err
}

// Get returns an object's record and a reader over its bytes, which the
// caller closes. The reader seeks, so it serves Range requests.
func (s *Service) Get(ctx context.Context, bucket, key string) (meta.Object, *Reader, error) {
	// A concurrent overwrite may delete the blobs between the metadata
	// read and the open; the second try then sees the new object.
	for try := 0; ; try++ {
		obj, err := s.Head(ctx, bucket, key)
		if err != nil {
			return meta.Object{}, nil, err
		}
		r, err := s.open(ctx, obj)
		if err == nil {
			return obj, r, nil
		}
		if !storage.IsNotExist(err) || try == 2 {
			return meta.Object{}, nil, fmt.Errorf("opening %s/%s: %w", bucket, key, err)
		}
	}
}

// ErrBlobSize means a blob holds another number of bytes than the metadata
// records: it was truncated or replaced behind the server's back. Reads
// fail with it before anything is sent, rather than answer a 200 whose
// body ends early.
var ErrBlobSize = errors.New("blob size differs from the recorded size")

// streamOpener is a backend's cheaper Open for a blob about to be read
// from its start (s3store: one GET instead of a HEAD and then a GET).
type streamOpener interface {
	OpenStream(ctx context.Context, id string) (storage.Blob, error)
}

// forgetter is a backend that keeps copies of another's blobs
// (blobcache): Forget drops its copy of a blob, so that the next Open
// reads the source.
type forgetter interface {
	Forget(id string)
}

// openBlob opens a segment's blob and checks its size against the record;
// stream says the blob will be read from its start. A kept copy of the
// wrong size is forgotten and the blob opened again from its source.
func openBlob(ctx context.Context, blobs storage.Backend, seg meta.Segment, stream bool) (storage.Blob, error) {
	open := blobs.Open
	if so, ok := blobs.(streamOpener); ok && stream {
		open = so.OpenStream
	}
	for try := 1; ; try++ {
		b, err := open(ctx, seg.Blob)
		if err != nil {
			return nil, err
		}
		if b.Size() == seg.Size {
			return b, nil
		}
		b.Close()
		f, ok := blobs.(forgetter)
		if !ok || try == 2 {
			return nil, fmt.Errorf("blob %s holds %d bytes, want %d: %w", seg.Blob, b.Size(), seg.Size, ErrBlobSize)
		}
		f.Forget(seg.Blob)
	}
}

// eagerOpen is how many segments are opened up front. Open blobs stay
// readable when an overwrite deletes them, so a reader of an object with
// up to this many parts never sees a mix of versions.
const eagerOpen = 256

func (s *Service) open(ctx context.Context, obj meta.Object) (*Reader, error) {
	r := &Reader{ctx: ctx, blobs: s.Blobs, segs: obj.Segments, size: obj.Size}
	if len(obj.Segments) == 1 { // most objects: no allocation for the slices
		r.open, r.starts = r.open1[:], r.starts1[:]
	} else {
		r.open, r.starts = make([]storage.Blob, len(obj.Segments)), make([]int64, len(obj.Segments))
	}
	var start int64
	for i, seg := range obj.Segments {
		r.starts[i] = start
		start += seg.Size
	}
	for i := range obj.Segments {
		if i == eagerOpen {
			break
		}
		if obj.Segments[i].Inline() {
			r.open[i] = inlineBlob{bytes.NewReader(obj.Segments[i].Data)}
			continue
		}
		// A one-blob object is most often read whole (a NAR).
		b, err := openBlob(ctx, s.Blobs, obj.Segments[i], len(obj.Segments) == 1)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.open[i] = b
	}
	return r, nil
}

// Reader reads an object's segments as one stream. It implements
// io.ReadSeekCloser, as http.ServeContent needs.
type Reader struct {
	ctx    context.Context
	blobs  storage.Backend
	segs   []meta.Segment
	open   []storage.Blob
	starts []int64 // offset of each segment in the object
	size   int64
	off    int64
	// open1 and starts1 back open and starts for one segment.
	open1   [1]storage.Blob
	starts1 [1]int64
}

// Read reads from the current offset.
func (r *Reader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	i, inner := r.locate(r.off)
	b, err := r.blob(i)
	if err != nil {
		return 0, err
	}
	rest := r.segs[i].Size - inner
	if int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := b.ReadAt(p, inner)
	r.off += int64(n)
	if err == io.EOF && n == len(p) {
		err = nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // the blob is shorter than recorded
	}
	return n, err
}

// WriteTo streams the rest of the object to w with large reads, so a
// 64 MiB copy is not chopped into io.Copy's 32 KiB pieces.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	return io.CopyBuffer(w, struct{ io.Reader }{r}, make([]byte, 256<<10))
}

// Inline returns the bytes of an object stored inline in the metadata.
func (r *Reader) Inline() ([]byte, bool) {
	if len(r.segs) == 1 && r.segs[0].Inline() {
		return r.segs[0].Data, true
	}
	return nil, false
}

// Content is what to serve: for a one-segment object the blob itself, so
// that a local file can be sent with sendfile(2), else the Reader.
func (r *Reader) Content() io.ReadSeeker {
	if len(r.segs) == 1 && r.open[0] != nil {
		if f, ok := r.open[0].(interface{ File() *os.File }); ok {
			return f.File()
		}
		return r.open[0]
	}
	return r
}

// Seek sets the offset for the next Read.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, errors.New("objects: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("objects: negative offset")
	}
	r.off = offset
	return offset, nil
}

// Close closes every open blob.
func (r *Reader) Close() error {
	var first error
	for i, b := range r.open {
		if b != nil {
			if err := b.Close(); err != nil && first == nil {
				first = err
			}
			r.open[i] = nil
		}
	}
	return first
}

// locate finds the segment holding off (< r.size) and the offset in it.
func (r *Reader) locate(off int64) (int, int64) {
	i := sort.Search(len(r.starts), func(i int) bool { return r.starts[i] > off }) - 1
	return i, off - r.starts[i]
}

func (r *Reader) blob(i int) (storage.Blob, error) {
	if r.open[i] != nil {
		return r.open[i], nil
	}
	if r.segs[i].Inline() {
		r.open[i] = inlineBlob{bytes.NewReader(r.segs[i].Data)}
		return r.open[i], nil
	}
	b, err := openBlob(r.ctx, r.blobs, r.segs[i], false)
	if err != nil {
		return nil, err
	}
	r.open[i] = b
	return b, nil
}

// inlineBlob serves an inline segment's bytes as a storage.Blob.
type inlineBlob struct{ *bytes.Reader }

func (inlineBlob) Close() error { return nil }
