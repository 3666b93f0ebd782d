package objects

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
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
	if err := s.needBucket(ctx, bucket); err != nil {
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

// PulledFile is a finished local file holding the bytes of a pulled
// object, with what the caller knows of them.
type PulledFile struct {
	Path string
	Size int64
	// SHA256 is the bytes' SHA-256, which the caller has checked (against
	// the narinfo's FileHash); it becomes the object's, and its ETag's.
	SHA256 []byte
	// CRC64NVME, if not nil, is the bytes' CRC-64/NVME (the checksum an
	// object keeps, checksum.Default), computed by the caller as they
	// arrived; nil: computed here from the file.
	CRC64NVME []byte
}

// PulledETag is the ETag of an object stored by PutPulledFile: the first
// 16 bytes of its SHA-256 in hex, and "-1", the form S3 gives objects
// whose ETag is not the MD5 of their bytes (a multipart upload's). MD5
// would be the only reason to hash a pulled NAR again: the upstream
// fetcher has its SHA-256 already, and MD5 cost a pull-through bucket
// about a quarter of a core per first download. Clients that check a
// download against the ETag (rclone fails the copy, s3cmd warns) do so
// only for a plain 32-hex ETag, which they take for the MD5, and skip one
// with a dash, so a plain ETag that is not the MD5 would break them; If-Match
// and If-None-Match compare ETags as strings, so they work as with any
// other.
func PulledETag(sha256 []byte) string {
	return hex.EncodeToString(sha256[:md5.Size]) + "-1"
}

// PutPulledFile stores the file pf (see PulledFile) as key, if cond
// holds. It is for a pull-through bucket's NAR: the upstream fetcher
// downloaded it into that file for the clients that follow the download,
// so where the blob store can take the file as it is (storage.Adopter:
// the local disk) it does, and the bytes are neither written nor read
// again; only the kept checksum is computed here, from the page cache, if
// the caller did not bring it. Otherwise the file is copied into a blob
// as Put would copy a body, its SHA-256 checked against pf.SHA256 on the
// way. Either way the object's ETag is PulledETag. On any error nothing is
// stored; the file may be gone from pf.Path either way.
func (s *Service) PutPulledFile(ctx context.Context, bucket, key string, h meta.Headers, pf PulledFile, cond Conditions) (meta.Object, error) {
	if err := ValidKey(key); err != nil {
		return meta.Object{}, err
	}
	if len(pf.SHA256) != sha256.Size {
		return meta.Object{}, fmt.Errorf("pulled file %s: no SHA-256", pf.Path)
	}
	if err := s.needBucket(ctx, bucket); err != nil {
		return meta.Object{}, err
	}
	if err := s.admit(pf.Size); err != nil {
		return meta.Object{}, err
	}
	f, err := os.Open(pf.Path)
	if err != nil {
		return meta.Object{}, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != pf.Size {
		return meta.Object{}, fmt.Errorf("%w: pulled file %s is not of %d bytes (%v)", ErrIncompleteBody, pf.Path, pf.Size, err)
	}
	var w written
	ad, ok := s.Blobs.(storage.Adopter)
	if !ok || pf.Size <= InlineMax {
		if w, err = s.write(ctx, f, pf.Size, pf.Size, Verify{SHA256: pf.SHA256}, true); err != nil {
			return meta.Object{}, err
		}
	} else {
		if w, err = hashPulled(f, pf); err != nil {
			return meta.Object{}, err
		}
		id, err := ad.Adopt(ctx, pf.Path)
		if err != nil {
			return meta.Object{}, err
		}
		w.seg = meta.Segment{Blob: id, Size: pf.Size}
	}
	obj := s.newObject(bucket, key, h, w)
	obj.ETag = PulledETag(pf.SHA256)
	return s.commitPut(ctx, obj, cond)
}

// hashPulled gives the hashes a stored object keeps, computing from f
// only the kept checksum, and that only if the caller did not bring it.
func hashPulled(f *os.File, pf PulledFile) (written, error) {
	sum := pf.CRC64NVME
	if sum == nil {
		kept := checksum.Default.New()
		buf := chunks.Get().(*[]byte)
		defer chunks.Put(buf)
		if _, err := io.CopyBuffer(kept, struct{ io.Reader }{f}, *buf); err != nil {
			return written{}, err
		}
		sum = kept.Sum(nil)
	}
	return written{sha256: bytes.Clone(pf.SHA256), alg: checksum.Default, checksum: checksum.Encode(sum)}, nil
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
	if err := s.needBucket(ctx, bucket); err != nil {
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
