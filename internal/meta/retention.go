package meta

import (
	"context"
	"time"
)

// Retention is a bucket's garbage-collection policy (see internal/gc).
// The zero KeepDays and MaxSize mean no such limit; GC false means a
// scheduled GC skips the bucket (an explicit `nixbucket gc` still runs).
type Retention struct {
	KeepDays int           // keep what was pushed or fetched within this many days
	MaxSize  int64         // bytes of narinfos, NARs, listings, logs, debuginfo entries and realisations; evict LRU roots past it
	GC       bool          // the server's schedule collects the bucket
	Grace    time.Duration // nothing younger is deleted: pushes in flight
}

// DefaultRetention applies to a bucket until set: no GC, nothing deleted
// unless its owner asks, and an hour's grace for pushes in flight.
var DefaultRetention = Retention{Grace: time.Hour}

// NarinfoEdge is what a scan of the narinfo index returns for a record:
// the fields a garbage collector needs, and none of the signatures,
// hashes and names it does not.
type NarinfoEdge struct {
	Hash       string
	URL        string
	Deriver    string
	FileSize   int64
	Created    time.Time
	LastAccess time.Time
	References []string // store path basenames
}

// GC is the part of the Store that retention and garbage collection use.
type GC interface {
	// Retention returns the bucket's policy, DefaultRetention until set:
	// ErrNoSuchBucket.
	Retention(ctx context.Context, bucket string) (Retention, error)
	// SetRetention stores the bucket's policy: ErrNoSuchBucket.
	// DeleteBucket removes it.
	SetRetention(ctx context.Context, bucket string, r Retention) error
	// ScanNarinfoEdges returns up to limit (at least 1) records of the
	// bucket's index with hashes greater than after, in hash order, so a
	// caller streams a million records in pages without holding them:
	// ErrNoSuchBucket. An empty page ends the scan.
	ScanNarinfoEdges(ctx context.Context, bucket, after string, limit int) ([]NarinfoEdge, error)
	// CollectObject is DeleteObject for the garbage collector's delete of
	// a NAR (see collected.go): it is also refused (ErrPreconditionFailed)
	// when a narinfo indexed after since names key as its URL.
	CollectObject(ctx context.Context, bucket, key string, since time.Time, check Check) ([]Segment, error)
}
