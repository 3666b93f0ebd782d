package objects

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"sync"

	"github.com/nixbucket/nixbucket/internal/checksum"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/storage"
)

// This file is the core's door for pull-through buckets
// (internal/pullthrough): objects whose bytes come from an upstream cache
// rather than a client. They are stored as Put stores them (the same
// blobs, hashes, absent-key filters and memo), but the caller vouches for
// them: the upstream fetcher has checked the bytes against a narinfo whose
// signature it verified, so no Hook runs.

// ErrAborted is what a PushWriter's pending work fails with after Abort.
var ErrAborted = errors.New("write aborted")

// PushWriter stores an object whose bytes the caller pushes in (Write) as
// they arrive, rather than handing Put a reader. Nothing is visible until
// Commit; Abort (or a failed Commit) leaves nothing behind.
type PushWriter struct {
	s           *Service
	bucket, key string
	headers     meta.Headers
	pw          *io.PipeWriter
	done        chan struct{}
	res         written
	err         error
	once        sync.Once
}

// NewPushWriter starts an object of size bytes (-1: unknown) at key. ctx
// must outlive the writes and the Commit (it bounds the blob store's
// requests).
func (s *Service) NewPushWriter(ctx context.Context, bucket, key string, size int64, h meta.Headers) (*PushWriter, error) {
	if err := ValidKey(key); err != nil {
		return nil, err
	}
	if _, err := s.Meta.Bucket(ctx, bucket); err != nil {
		return nil, err
	}
	if err := s.admit(size); err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	w := &PushWriter{s: s, bucket: bucket, key: key, headers: h, pw: pw, done: make(chan struct{})}
	limit := int64(MaxPutSize)
	if size >= 0 {
		limit = size
	}
	go func() {
		defer close(w.done)
		w.res, w.err = s.write(ctx, pr, size, limit, Verify{}, true)
		// A write that failed early must not leave Write blocked.
		pr.CloseWithError(w.err)
	}()
	return w, nil
}

// Write passes p on to the blob being written.
func (w *PushWriter) Write(p []byte) (int, error) { return w.pw.Write(p) }

// Commit ends the body and makes the object visible if cond holds. It
// returns the object's record, whose SHA256 the caller may compare with
// what it expected.
func (w *PushWriter) Commit(ctx context.Context, cond Conditions) (meta.Object, error) {
	w.pw.Close()
	<-w.done
	if w.err != nil {
		return meta.Object{}, w.err
	}
	obj := w.s.newObject(w.bucket, w.key, w.headers, w.res)
	return w.s.commitPut(ctx, obj, cond)
}

// Abort discards what was written. It is safe to call more than once and
// after Commit (then it does nothing).
func (w *PushWriter) Abort() {
	// The body ends only at Commit's Close, so the pending write sees
	// the error before it commits its blob, and aborts it.
	w.once.Do(func() {
		w.pw.CloseWithError(ErrAborted)
		<-w.done
	})
}

// PutPulledFile stores the finished local file at path, of size bytes
// whose SHA-256 the caller has checked (sha256, which becomes the
// object's), as key, if cond holds. It is for a pull-through bucket's NAR:
// the upstream fetcher downloaded it into that file for the clients that
// follow the download, so where the blob store can take the file as it is
// (storage.Adopter: the local disk) it does, and the bytes are written
// once, not twice; only MD5 (the ETag) and the kept checksum are computed
// here, from the page cache. Otherwise the file is copied into a blob as
// Put would copy a body, its SHA-256 checked against sha256 on the way.
// On any error nothing is stored; the file may be gone from path either
// way.
func (s *Service) PutPulledFile(ctx context.Context, bucket, key string, h meta.Headers, path string, size int64, sha256 []byte, cond Conditions) (meta.Object, error) {
	if err := ValidKey(key); err != nil {
		return meta.Object{}, err
	}
	if _, err := s.Meta.Bucket(ctx, bucket); err != nil {
		return meta.Object{}, err
	}
	if err := s.admit(size); err != nil {
		return meta.Object{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return meta.Object{}, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != size {
		return meta.Object{}, fmt.Errorf("%w: pulled file %s is not of %d bytes (%v)", ErrIncompleteBody, path, size, err)
	}
	ad, ok := s.Blobs.(storage.Adopter)
	if !ok || size <= InlineMax {
		w, err := s.write(ctx, f, size, size, Verify{SHA256: sha256}, true)
		if err != nil {
			return meta.Object{}, err
		}
		return s.commitPut(ctx, s.newObject(bucket, key, h, w), cond)
	}
	w, err := hashPulled(f, sha256)
	if err != nil {
		return meta.Object{}, err
	}
	id, err := ad.Adopt(ctx, path)
	if err != nil {
		return meta.Object{}, err
	}
	w.seg = meta.Segment{Blob: id, Size: size}
	return s.commitPut(ctx, s.newObject(bucket, key, h, w), cond)
}

// hashPulled computes the hashes a stored object keeps, but SHA-256, which
// the caller vouches for, from f.
func hashPulled(f *os.File, sha256 []byte) (written, error) {
	m, kept := md5.New(), checksum.Default.New()
	buf := chunks.Get().(*[]byte)
	defer chunks.Put(buf)
	if _, err := io.CopyBuffer(io.MultiWriter(m, kept), struct{ io.Reader }{f}, *buf); err != nil {
		return written{}, err
	}
	return written{
		md5: m.Sum(nil), sha256: bytes.Clone(sha256),
		alg: checksum.Default, checksum: checksum.Encode(kept.Sum(nil)),
	}, nil
}

// PulledNote is the note (see NotePrefix) PutVouched leaves on the
// objects it stores: its value is "upstream". A narinfo that carries it
// came from an upstream cache, so its NAR may still be there only, to be
// fetched on its first GET: nixbucket verify and bucket resign tell such
// a narinfo from one whose NAR was lost. A client cannot set it, and a
// push of the same key drops it.
const PulledNote = NotePrefix + "pulled"

// Pulled reports whether obj was stored by PutVouched (and not replaced
// since by a client's write).
func Pulled(obj meta.Object) bool { return obj.Headers.UserMeta[PulledNote] != "" }

// PutVouched stores a small object with the index record the caller
// vouches for (a narinfo a pull-through bucket took from an upstream,
// whose NAR is not stored yet), bypassing the Hook, and marks it with
// PulledNote. cond is checked as by Put.
func (s *Service) PutVouched(ctx context.Context, bucket, key string, h meta.Headers, body []byte, rec *meta.Narinfo, cond Conditions) (meta.Object, error) {
	if err := ValidKey(key); err != nil {
		return meta.Object{}, err
	}
	if _, err := s.Meta.Bucket(ctx, bucket); err != nil {
		return meta.Object{}, err
	}
	w, err := s.write(ctx, bytes.NewReader(body), int64(len(body)), MaxHooked, Verify{}, true)
	if err != nil {
		return meta.Object{}, err
	}
	obj := s.newObject(bucket, key, h, w)
	obj.Headers.UserMeta = maps.Clone(obj.Headers.UserMeta)
	if obj.Headers.UserMeta == nil {
		obj.Headers.UserMeta = map[string]string{}
	}
	obj.Headers.UserMeta[PulledNote] = "upstream"
	obj.Narinfo = rec
	return s.commitPut(ctx, obj, cond)
}
