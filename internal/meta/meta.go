// Package meta defines the metadata store: buckets, objects (key → blob
// segments), multipart uploads and access keys.
//
// Times are kept to the microsecond or better: a stored time reads back
// in UTC, within a microsecond of what was stored (PostgreSQL keeps
// microseconds; SQLite here keeps nanoseconds).
//
// Every Store method is one transaction: it either happens whole or not at
// all. Methods that make blobs unreferenced return them as garbage; the
// caller deletes those blobs after the method returned (a crash in between
// leaves unreferenced blobs, which the sweeper removes: at start for a
// server's own blob store, periodically for a shared one; see
// internal/jobs).
//
// Errors: the sentinel errors below, wrapped; callers test with errors.Is.
package meta

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors returned (wrapped) by Store implementations.
var (
	ErrNoSuchBucket       = errors.New("no such bucket")
	ErrBucketExists       = errors.New("bucket already exists")
	ErrBucketNotEmpty     = errors.New("bucket not empty")
	ErrNoSuchKey          = errors.New("no such key")
	ErrNoSuchUpload       = errors.New("no such upload")
	ErrInvalidPart        = errors.New("invalid part")
	ErrNoSuchAccessKey    = errors.New("no such access key")
	ErrAccessKeyExists    = errors.New("access key already exists")
	ErrPreconditionFailed = errors.New("precondition failed")
	ErrInvalidKey         = errors.New("invalid key")
	// ErrOutcomeUnknown marks a write whose commit was sent but whose
	// answer never came (the connection failed or timed out): it may
	// have taken effect. Its blobs must not be discarded on the spot; the
	// sweep removes them later if nothing refers to them.
	ErrOutcomeUnknown = errors.New("the write's outcome is unknown")
)

// CheckKey returns ErrInvalidKey (wrapped) for a key no store holds: one
// containing a NUL byte. S3 keys are UTF-8, where NUL is a valid character
// that no client puts in a key, PostgreSQL's text cannot hold it, and C
// interfaces (SQLite's among them) take it as the end of the string.
// Stores refuse such keys on writes, and answer reads of them as missing.
func CheckKey(key string) error {
	if strings.IndexByte(key, 0) >= 0 {
		return fmt.Errorf("%w: %q contains a NUL byte", ErrInvalidKey, key)
	}
	return nil
}

// Bucket is a bucket's record.
type Bucket struct {
	Name    string
	Created time.Time
}

// Segment is one stretch of an object's bytes: a whole blob, or for small
// objects the bytes themselves (Blob empty, Data holding Size bytes). A
// simple PUT gives one segment; a multipart upload gives one per part, so
// completing an upload never copies data. Inline segments spare a small
// object the blob file, its fsyncs and a later open: its bytes commit in
// the same metadata transaction. They are never garbage.
type Segment struct {
	Blob string
	Size int64
	Data []byte
}

// Inline reports whether the segment's bytes are stored in the metadata.
func (s Segment) Inline() bool { return s.Blob == "" }

// Headers are the HTTP headers stored with an object and echoed on GET.
type Headers struct {
	ContentType        string
	ContentEncoding    string
	ContentDisposition string
	ContentLanguage    string
	CacheControl       string
	Expires            string
	// UserMeta holds x-amz-meta-* values keyed by the lower-case name
	// without the prefix.
	UserMeta map[string]string
}

// Object is an object's record.
type Object struct {
	Bucket   string
	Key      string
	Size     int64
	ETag     string // without quotes; "<md5 hex>" or "<md5 of md5s>-<parts>"
	Modified time.Time
	Headers  Headers
	// SHA256 is the SHA-256 of the whole object when known (always for a
	// simple PUT; nil for multipart objects until computed).
	SHA256 []byte
	// ChecksumAlgorithm and Checksum are the S3 additional checksum (for
	// example "CRC32" and its base64 value): the client's, or the default
	// CRC64NVME; empty for objects stored before nixbucket kept one. A
	// multipart object's COMPOSITE checksum ends in "-N" (N parts), a
	// FULL_OBJECT one does not (see checksum.TypeOf).
	ChecksumAlgorithm string
	Checksum          string
	// PartsCount is the number of parts for a multipart object, else 0.
	PartsCount int
	Segments   []Segment
	// Tags are the object's tags (see Tagging); ScanObjects leaves them nil.
	Tags []Tag
	// Narinfo, when set on PutObject, is the index record of the accepted
	// narinfo this object is (see Nix). Object and ScanObjects leave it nil.
	Narinfo *Narinfo
}

// Upload is an in-progress multipart upload.
type Upload struct {
	Bucket            string
	Key               string
	ID                string
	Initiated         time.Time
	Headers           Headers
	ChecksumAlgorithm string // x-amz-checksum-algorithm of CreateMultipartUpload, or ""
	ChecksumType      string // its x-amz-checksum-type (FULL_OBJECT, COMPOSITE), or ""
	// Tags are the tags the completed object gets; ScanUploads leaves
	// them nil.
	Tags []Tag
}

// Part is an uploaded part of a multipart upload.
type Part struct {
	Number   int
	Size     int64
	ETag     string // md5 hex, without quotes
	Modified time.Time
	Checksum string // base64 of the upload's checksum algorithm, if any
	Segment  Segment
	// Shared marks a part whose segment is a blob an object already
	// refers to (UploadPartCopy of whole segments, copying no bytes).
	// PutPart then checks, in its transaction, that an object still
	// refers to the blob and that no other part of the upload uses it,
	// else ErrSharedBlob: a part never names a blob a concurrent delete
	// made garbage. Not stored.
	Shared bool
}

// AccessKey is a signing key pair. The secret is needed in clear to verify
// HMAC signatures.
type AccessKey struct {
	ID      string
	Secret  string
	User    string
	Created time.Time
	Enabled bool
}

// ScanQuery selects objects (or uploads) in key order.
type ScanQuery struct {
	Bucket string
	Prefix string
	// After is exclusive: only keys strictly greater are returned.
	After string
	// AfterUploadID, with After, continues a listing of uploads inside the
	// same key: uploads of key After with an ID greater than it are included.
	AfterUploadID string
	// Limit caps the results; zero or less means no limit.
	Limit int
	// Segments, for ScanObjects, also returns each object's segments and
	// tags, inline bodies included, so that a caller reading many small
	// objects (debuginfo entries, realisations) needs no lookup per
	// object. It reads every row, not just the listing's index: use it on
	// narrow prefixes.
	Segments bool
}

// Check is called inside PutObject's transaction with the object currently
// stored under the key (nil when there is none). A non-nil error aborts the
// transaction and is returned unchanged. For a narinfo key, the object
// carries its index record (Narinfo, nil if it has none), so that a check
// judges the record's last use in the same transaction as the write.
type Check func(current *Object) error

// Store is the metadata store. Implementations are safe for concurrent use.
type Store interface {
	IAM
	Nix
	Lifecycle
	Pins
	GC
	Announcer
	JobLocks
	Tagging
	Search
	TrafficStore
	Usages

	CreateBucket(ctx context.Context, b Bucket) error // ErrBucketExists
	Bucket(ctx context.Context, name string) (Bucket, error)
	Buckets(ctx context.Context) ([]Bucket, error) // sorted by name
	// DeleteBucket fails with ErrBucketNotEmpty while the bucket holds
	// objects or multipart uploads.
	DeleteBucket(ctx context.Context, name string) error

	// Object returns the object under key: ErrNoSuchBucket, ErrNoSuchKey.
	Object(ctx context.Context, bucket, key string) (Object, error)
	// PutObject stores obj under (obj.Bucket, obj.Key), replacing any
	// current object, after check (if non-nil) accepted the current one.
	// It returns the replaced object's segments as garbage. A key CheckKey
	// refuses: ErrInvalidKey.
	PutObject(ctx context.Context, obj Object, check Check) (garbage []Segment, err error)
	// DeleteObject removes the object; a missing key is not an error
	// (garbage is then empty). check, if non-nil, sees the current object.
	DeleteObject(ctx context.Context, bucket, key string, check Check) (garbage []Segment, err error)
	// ScanObjects returns up to q.Limit objects with keys having q.Prefix and
	// greater than q.After, in byte order of keys (Go's string order, never
	// a collation). Segments may be left empty.
	ScanObjects(ctx context.Context, q ScanQuery) ([]Object, error)

	// CreateUpload records a new upload; u.ID must be unique in the store.
	// ErrNoSuchBucket; ErrInvalidKey as PutObject.
	CreateUpload(ctx context.Context, u Upload) error
	Upload(ctx context.Context, bucket, key, id string) (Upload, error)
	// PutPart records a part, replacing one with the same number; the
	// replaced part's segment is returned as garbage.
	PutPart(ctx context.Context, bucket, key, uploadID string, p Part) (garbage []Segment, err error)
	// Parts returns up to limit parts numbered above after, in number
	// order; limit zero or less means all.
	Parts(ctx context.Context, bucket, key, uploadID string, after, limit int) ([]Part, error)
	// CompleteUpload atomically checks that each of obj.Segments is still a
	// part of the upload (else ErrInvalidPart), runs check against the
	// current object, stores obj, and removes the upload. Garbage holds the
	// upload's unused parts and the replaced object's segments.
	CompleteUpload(ctx context.Context, uploadID string, obj Object, check Check) (garbage []Segment, err error)
	// AbortUpload removes the upload; its parts are returned as garbage.
	AbortUpload(ctx context.Context, bucket, key, id string) (garbage []Segment, err error)
	// ScanUploads lists uploads with keys having q.Prefix, in (key, id)
	// order, after (q.After, q.AfterUploadID). Upload IDs sort by creation
	// time, so this is AWS's (key, initiated) order.
	ScanUploads(ctx context.Context, q ScanQuery) ([]Upload, error)

	// Referenced reports, for each blob ID, whether any object or part
	// refers to it. The sweeper uses it.
	Referenced(ctx context.Context, blobs []string) (map[string]bool, error)

	Close() error
}
