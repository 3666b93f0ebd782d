// Package storage defines the blob backend: where object bytes live.
//
// A backend knows nothing about S3, Nix or keys. It stores immutable blobs
// under opaque IDs it chooses itself; the metadata store maps keys to blobs.
// Because blobs are immutable and only become visible once committed, a
// crash can leave at most unreferenced blobs and temporaries, which the
// sweeper removes.
package storage

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotExist is returned (wrapped) by Open for a blob that does not exist.
var ErrNotExist = errors.New("blob does not exist")

// ErrSHA256Mismatch is a StoreVerifier's refusal of bytes whose SHA-256
// is not the one announced.
var ErrSHA256Mismatch = errors.New("the blob's bytes do not have the SHA-256 announced")

// IsNotExist reports whether err means the blob does not exist.
func IsNotExist(err error) bool { return errors.Is(err, ErrNotExist) }

// Backend stores immutable blobs. Implementations are safe for concurrent use.
type Backend interface {
	// Create starts a new blob. The caller writes the bytes and must then call
	// exactly one of Commit or Abort. Nothing is visible through Open until
	// Commit has returned nil.
	Create(ctx context.Context) (Writer, error)

	// Open returns a reader over a committed blob. A missing blob gives an
	// error for which IsNotExist is true. The caller closes the Blob. A blob
	// deleted while open stays readable through the open Blob where the
	// backend can offer that (local files can).
	Open(ctx context.Context, id string) (Blob, error)

	// Delete removes a committed blob. Deleting a missing blob is not an
	// error, so Delete may be retried.
	Delete(ctx context.Context, id string) error

	// Walk calls fn for every committed blob, in no particular order, with
	// the time it was committed. It stops at fn's first error and returns it.
	// The sweeper uses it to find blobs no metadata refers to.
	Walk(ctx context.Context, fn func(id string, committed time.Time) error) error
}

// Pinger is a Backend that can tell, cheaply, whether it can be reached
// now (a node's GET /-/ready): nil, or why not.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Placer is a Backend that can also create a blob under an ID the caller
// chooses, one that another backend gave (every backend here makes IDs of
// the same form: 128 random bits in lowercase hex). nixbucket migrate uses
// it to copy blobs from one backend to another under their own IDs, so
// the metadata that names them is copied unchanged and a copy interrupted
// and started again finds what it already wrote. An ID this backend could
// not have made is an error. A blob already committed under the ID is
// replaced by Commit; callers copy only blobs the backend lacks.
type Placer interface {
	Backend
	CreateAt(ctx context.Context, id string) (Writer, error)
}

// SizedCreator is a Backend that can use a blob's size, known before its
// first byte (an S3 PUT's Content-Length): CreateSized is Create for a
// blob of exactly size bytes. Fewer bytes make Commit fail and more make
// Write fail, and either way nothing is visible. s3store streams such a
// blob through one request instead of buffering parts.
type SizedCreator interface {
	Backend
	CreateSized(ctx context.Context, size int64) (Writer, error)
}

// MD5Committer is a Writer that can use the MD5 of its bytes computed by
// its caller, where it would otherwise hash them itself (s3store needs it
// for a Content-MD5 or to check the store's ETag). SkipMD5, called before
// the first Write, says the caller hashes; CommitMD5 is then Commit given
// the MD5 of every byte written. The object layer hashes every body with
// MD5 for its ETag anyway, so a second pass would only cost CPU.
type MD5Committer interface {
	SkipMD5()
	CommitMD5(ctx context.Context, sum []byte) (string, error)
}

// StoreVerifier is a Writer whose store can check the bytes against a
// SHA-256 announced before the first byte, and report their MD5: s3store
// signs its request to the store with the SHA-256 the client signed
// (x-amz-content-sha256), which an S3 store verifies, and takes the
// store's ETag, the MD5 of what it stored, as the MD5. The object layer
// otherwise hashes every byte of a PUT with SHA-256 (to check the
// client's signed payload) and MD5 (its ETag) while the store hashes them
// again; those two hashes were three quarters of the server's CPU on a
// PUT through to an S3 store (bench/scale.sh).
//
// StoreVerifies, called before the first Write, asks for it, and reports
// false when this store cannot be trusted to check (the caller hashes
// then, and the writer is as it was). After true, CommitVerified replaces
// Commit (and CommitMD5): it fails, leaving nothing visible, when the
// store refused the bytes (ErrSHA256Mismatch wrapped), and else returns
// the MD5 of the bytes the store verified.
type StoreVerifier interface {
	StoreVerifies(ctx context.Context, sha256 []byte) bool
	CommitVerified(ctx context.Context) (id string, md5 []byte, err error)
}

// Adopter is a Backend that can take a finished file on the local disk
// as a new committed blob without copying its bytes (localfs renames it
// into place). A pull-through bucket downloads a NAR into such a file for
// the clients that follow it, and would otherwise write every byte twice.
// Adopt returns the new blob's ID; the file is then gone from path. A file
// the backend cannot take (on another filesystem) gives an error and is
// left where it is, so the caller can copy it instead.
type Adopter interface {
	Backend
	Adopt(ctx context.Context, path string) (id string, err error)
}

// Writer receives the bytes of a new blob.
type Writer interface {
	io.Writer

	// Commit makes the blob durable (on disk after fsync, or acknowledged
	// by the remote store) and returns its ID. After Commit the Writer must
	// not be used.
	Commit(ctx context.Context) (id string, err error)

	// Abort discards the bytes written so far. It is safe to call after a
	// failed Commit and more than once; after a successful Commit it does
	// nothing, so callers may defer it.
	Abort() error
}

// Blob is an open committed blob. ReadAt and Seek/Read may be used together;
// ReadAt does not move the offset used by Read.
type Blob interface {
	io.ReadSeekCloser
	io.ReaderAt
	// Size is the blob's length in bytes.
	Size() int64
}
