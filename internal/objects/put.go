package objects

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/nixbucket/nixbucket/internal/checksum"
	"github.com/nixbucket/nixbucket/internal/meta"
)

// Verify lists what the client claims about a body; each claim is checked
// against the hashes computed in the single pass over the bytes.
type Verify struct {
	MD5    []byte // Content-MD5, decoded; nil when absent
	SHA256 []byte // signed x-amz-content-sha256; nil when absent
	// ChecksumAlgorithm asks for an S3 additional checksum; Checksum, if
	// non-nil, returns the expected base64 value once the body is read
	// (it may come from a trailer), "" meaning "compute only".
	ChecksumAlgorithm checksum.Algorithm
	Checksum          func() string
	// Record is the checksum to keep with the bytes, if not the claimed
	// one (a part of an upload that named another algorithm; a copy that
	// asks for a new one). With neither, the default CRC64NVME is kept,
	// as S3 does since 2025.
	Record checksum.Algorithm
}

// keeps is the algorithm whose checksum v's body keeps.
func (v Verify) keeps() checksum.Algorithm {
	switch {
	case v.Record != "":
		return v.Record
	case v.ChecksumAlgorithm != "":
		return v.ChecksumAlgorithm
	}
	return checksum.Default
}

// Conditions are S3's conditional-write headers.
type Conditions struct {
	IfMatch     string // an ETag (quoted or not) or "*"
	IfNoneMatch string // "*" (or an ETag)
	// MatchSize and MatchModified, if set, refuse (ErrPreconditionFailed)
	// a delete of an object of another size, or last modified at another
	// second (x-amz-if-match-size, x-amz-if-match-last-modified-time); a
	// missing object passes, as S3 documents for them.
	MatchSize     *int64
	MatchModified time.Time
	// UnmodifiedSince, if set, refuses (ErrPreconditionFailed) an object
	// written after it: the garbage collector deletes only what is older
	// than its grace period, judged in the delete's own transaction.
	UnmodifiedSince time.Time
	// UnusedSince, if set, refuses (ErrPreconditionFailed) a narinfo whose
	// index record was created or last used after it: the garbage
	// collector deletes a path only if no push referred to it and no
	// client fetched it meanwhile, judged in the delete's own transaction
	// (meta.Check gives it the record).
	UnusedSince time.Time
	// Collect, if set, makes a delete the garbage collector's of a NAR
	// (meta.GC's CollectObject): refused (ErrPreconditionFailed) when a
	// narinfo indexed after Collect names the key, judged in the
	// delete's transaction. Deletes only.
	Collect time.Time
}

// PutInput is a PutObject call.
type PutInput struct {
	Bucket, Key string
	Body        io.Reader
	Size        int64 // declared length; -1 when unknown
	Headers     meta.Headers
	Verify      Verify
	Cond        Conditions
	// Tags are the new object's tags (x-amz-tagging); the S3 front end
	// checks them against S3's limits.
	Tags []meta.Tag
	// MayRead, if set, reports whether the writer may read key in the
	// same bucket. A hook asks it before it reveals anything about another
	// object (its size or hash in a refusal); nil means it may not.
	MayRead func(key string) bool
	// KeepNarinfoTimes, for a narinfo that replaces one of the same key
	// (nixbucket bucket resign), keeps the replaced index record's Created
	// and LastAccess, and leaves the records it refers to as they were: a
	// rewrite by the administrator is no push, and retention judges paths
	// by those times.
	KeepNarinfoTimes bool
}

// ValidKey checks an object key: 1 to 1024 bytes of valid UTF-8, without
// NUL (see meta.CheckKey).
func ValidKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if len(key) > MaxKeyLength {
		return fmt.Errorf("%w: %d bytes", ErrKeyTooLong, len(key))
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidKey)
	}
	return meta.CheckKey(key)
}

// Put stores an object, replacing any current one when in.Cond allows.
func (s *Service) Put(ctx context.Context, in PutInput) (_ meta.Object, err error) {
	defer storageFull(&err)
	if err := ValidKey(in.Key); err != nil {
		return meta.Object{}, err
	}
	if in.Size > MaxPutSize {
		return meta.Object{}, fmt.Errorf("%w: %d bytes in one PUT", ErrEntityTooLarge, in.Size)
	}
	if err := s.needBucket(ctx, in.Bucket); err != nil {
		return meta.Object{}, err
	}
	// Fail a doomed conditional write before reading the body. One whose
	// conditions held then but not at the commit met a conflicting write
	// while its body streamed.
	if in.Cond != (Conditions{}) {
		cur, cerr := s.current(ctx, in.Bucket, in.Key)
		if cerr != nil {
			return meta.Object{}, cerr
		}
		if cerr := in.Cond.check(cur); cerr != nil {
			return meta.Object{}, cerr
		}
		defer func() {
			if errors.Is(err, meta.ErrPreconditionFailed) {
				err = fmt.Errorf("%w: %w", ErrConditionConflict, err)
			}
		}()
	}
	// Refuse for space before reading the body, so that a client that
	// sent "Expect: 100-continue" gets the answer without sending it.
	if err := s.admit(in.Size); err != nil {
		return meta.Object{}, err
	}
	if s.Hook != nil && s.Hook.Wants(in.Bucket, in.Key) {
		return s.putHooked(ctx, in)
	}
	w, err := s.write(ctx, in.Body, in.Size, MaxPutSize, in.Verify, true)
	if err != nil {
		return meta.Object{}, err
	}
	obj := s.newObject(in.Bucket, in.Key, in.Headers, w)
	obj.Tags = in.Tags
	return s.commitPut(ctx, obj, in.Cond)
}

// newObject is the record of a one-segment object just written.
func (s *Service) newObject(bucket, key string, h meta.Headers, w written) meta.Object {
	return meta.Object{
		Bucket:            bucket,
		Key:               key,
		Size:              w.size(),
		ETag:              hex.EncodeToString(w.md5),
		Modified:          s.now(),
		Headers:           withoutNotes(h),
		SHA256:            w.sha256,
		ChecksumAlgorithm: string(w.alg),
		Checksum:          w.checksum,
		Segments:          []meta.Segment{w.seg},
	}
}

// commitPut makes obj visible if cond still holds, and discards what it
// replaced; on failure it discards obj's own blobs.
func (s *Service) commitPut(ctx context.Context, obj meta.Object, cond Conditions) (meta.Object, error) {
	if err := s.checkNamed(ctx, &obj); err != nil {
		s.discard(ctx, obj.Segments)
		return meta.Object{}, err
	}
	done := s.adding(obj.Bucket, obj.Key)
	var check meta.Check // nil when there is nothing to check: a store may then skip the lookup
	if cond != (Conditions{}) {
		check = cond.check
	}
	garbage, err := s.Meta.PutObject(ctx, obj, check)
	done()
	s.forget(obj.Bucket, obj.Key)
	if errors.Is(err, meta.ErrOutcomeUnknown) {
		// Perhaps committed: its blobs stay, and the sweep takes them
		// if nothing refers to them.
		s.log().Warn("object write's outcome unknown; its blobs are left to the sweep",
			"bucket", obj.Bucket, "key", obj.Key, "err", err)
		return meta.Object{}, err
	}
	if err != nil {
		s.discard(ctx, obj.Segments)
		return meta.Object{}, err
	}
	s.discard(ctx, garbage)
	return obj, nil
}

func (s *Service) current(ctx context.Context, bucket, key string) (*meta.Object, error) {
	o, err := s.Meta.Object(ctx, bucket, key)
	if err == nil {
		return &o, nil
	}
	if isNoSuchKey(err) {
		return nil, nil
	}
	return nil, err
}
