// Package objects is the core both protocols call: buckets, objects,
// listings and multipart uploads over a blob backend and a metadata store.
//
// It never sees HTTP types. Bytes stream through once: the MD5 (ETag), the
// SHA-256 (Nix's FileHash) and any requested S3 checksum are computed while
// the body is written to a temporary blob, which is committed durably before
// one metadata transaction makes it visible; a body of at most InlineMax
// bytes is kept in that transaction instead, with no blob.
package objects

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/storage"
)

// Errors returned (wrapped) by Service methods. The metadata store's
// sentinel errors (meta.ErrNoSuchKey, ...) pass through unchanged.
var (
	ErrInvalidBucketName = errors.New("invalid bucket name")
	// ErrConditionConflict is a conditional write whose conditions held
	// when it began but not when it was to be committed: a conflicting
	// write came first (S3's 409 ConditionalRequestConflict; retrying
	// answers 412 or succeeds). It wraps the failed condition's error.
	ErrConditionConflict = errors.New("a conflicting write came first")
	ErrInvalidKey        = meta.ErrInvalidKey
	ErrKeyTooLong        = errors.New("key too long")
	ErrBadDigest         = errors.New("content-md5 mismatch")
	ErrSHA256Mismatch    = errors.New("x-amz-content-sha256 mismatch")
	ErrChecksumMismatch  = errors.New("checksum mismatch")
	ErrIncompleteBody    = errors.New("body shorter or longer than declared")
	ErrEntityTooLarge    = errors.New("entity too large")
	ErrEntityTooSmall    = errors.New("part too small")
	ErrInvalidPartOrder  = errors.New("parts not in ascending order")
	ErrInvalidPart       = meta.ErrInvalidPart
	ErrNotModified       = errors.New("not modified")
	ErrTooManyParts      = errors.New("too many parts")
	ErrInvalidArgument   = errors.New("invalid argument")
)

// Limits from the S3 documentation.
const (
	MaxKeyLength   = 1024
	MaxObjectSize  = 5 << 40 // 5 TiB
	MaxPutSize     = 5 << 30 // a single PUT or part: 5 GiB
	MinPartSize    = 5 << 20 // every part but the last
	MaxParts       = 10000
	MaxListResults = 1000
)

// Store is what the object core needs from the metadata store: the
// bucket, object and upload methods of meta.Store, and nothing of
// identities or Nix (the narinfo index is kept by PutObject's own
// transaction).
type Store interface {
	CreateBucket(ctx context.Context, b meta.Bucket) error
	Bucket(ctx context.Context, name string) (meta.Bucket, error)
	Buckets(ctx context.Context) ([]meta.Bucket, error)
	DeleteBucket(ctx context.Context, name string) error

	Object(ctx context.Context, bucket, key string) (meta.Object, error)
	PutObject(ctx context.Context, obj meta.Object, check meta.Check) ([]meta.Segment, error)
	DeleteObject(ctx context.Context, bucket, key string, check meta.Check) ([]meta.Segment, error)
	CollectObject(ctx context.Context, bucket, key string, since time.Time, check meta.Check) ([]meta.Segment, error)
	ScanObjects(ctx context.Context, q meta.ScanQuery) ([]meta.Object, error)

	CreateUpload(ctx context.Context, u meta.Upload) error
	Upload(ctx context.Context, bucket, key, id string) (meta.Upload, error)
	PutPart(ctx context.Context, bucket, key, uploadID string, p meta.Part) ([]meta.Segment, error)
	Parts(ctx context.Context, bucket, key, uploadID string, after, limit int) ([]meta.Part, error)
	CompleteUpload(ctx context.Context, uploadID string, obj meta.Object, check meta.Check) ([]meta.Segment, error)
	AbortUpload(ctx context.Context, bucket, key, id string) ([]meta.Segment, error)
	ScanUploads(ctx context.Context, q meta.ScanQuery) ([]meta.Upload, error)

	SetObjectTags(ctx context.Context, bucket, key string, tags []meta.Tag) error

	Referenced(ctx context.Context, blobs []string) (map[string]bool, error)

	// Narinfo reads an index record (PutInput.KeepNarinfoTimes).
	Narinfo(ctx context.Context, bucket, hash string) (meta.Narinfo, error)
}

var _ Store = meta.Store(nil)

// Service is the object core. Its fields are set once before use.
type Service struct {
	Meta  Store
	Blobs storage.Backend
	Log   *slog.Logger
	Now   func() time.Time // nil means time.Now
	// Hook, if set, checks and rewrites the writes it wants (narinfos).
	Hook Hook
	// NoMemo turns off the in-memory answers for small and missing
	// objects (the memo and the filters of absent keys); it must be set
	// when other processes write the same store, unless Watch is.
	NoMemo bool
	// Watch, if set, tells which objects other processes changed
	// (several servers on one PostgreSQL database): before the in-memory
	// answers are used, the keys changed elsewhere are forgotten (see
	// watch.go).
	Watch meta.ObjectWatcher
	// Changes, if set, is the store's change announcement: the memo then
	// keeps answers only while the generation stays, so that objects
	// another process deleted (nixbucket gc, which announces its deletes)
	// are not served from memory.
	Changes meta.Announcer
	// Space, if set, refuses new writes when the disk is (nearly) full
	// and frees its reserve for deletes.
	Space Space

	memo     memo
	absent   absent
	seen     seen
	versions versions
	known    sync.Map // bucket name → bucketStamp: seen to exist (needBucket)
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// discard deletes blobs that no metadata refers to any more. Failures are
// only logged: the sweeper finds what is left.
func (s *Service) discard(ctx context.Context, garbage []meta.Segment) {
	ctx = context.WithoutCancel(ctx)
	for _, g := range garbage {
		if g.Inline() {
			continue
		}
		if err := s.Blobs.Delete(ctx, g.Blob); err != nil {
			s.log().Warn("deleting unreferenced blob", "blob", g.Blob, "err", err)
		}
	}
}

// Sweep removes committed blobs that no metadata refers to and that were
// committed before cutoff. Such blobs are left by a crash between a blob's
// commit and its metadata transaction, or before garbage was deleted. It
// returns the number of blobs removed.
func (s *Service) Sweep(ctx context.Context, cutoff time.Time) (int, error) {
	const batch = 500
	var ids []string
	removed := 0
	flush := func() error {
		if len(ids) == 0 {
			return nil
		}
		refs, err := s.Meta.Referenced(ctx, ids)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if !refs[id] {
				if err := s.Blobs.Delete(ctx, id); err != nil {
					return err
				}
				removed++
			}
		}
		ids = ids[:0]
		return nil
	}
	err := s.Blobs.Walk(ctx, func(id string, committed time.Time) error {
		if !committed.Before(cutoff) {
			return nil
		}
		ids = append(ids, id)
		if len(ids) >= batch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return removed, err
}
