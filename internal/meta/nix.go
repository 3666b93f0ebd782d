package meta

import (
	"context"
	"errors"
	"time"

	"github.com/nixbucket/nixbucket/internal/nixgraph"
)

// ErrSigningKeyExists is returned (wrapped) when a bucket already has a
// signing key of that name; ErrNoSuchSigningKey when it has none.
var (
	ErrSigningKeyExists = errors.New("signing key already exists")
	ErrNoSuchSigningKey = errors.New("no such signing key")
)

// Narinfo is the index record of an accepted narinfo object
// (<Hash>.narinfo in Bucket). Hashes are "sha256:<nix32>"; References are
// store path basenames.
type Narinfo struct {
	Bucket      string
	Hash        string // the store path's 32-character hash
	StorePath   string
	URL         string
	Compression string
	FileHash    string
	FileSize    int64
	NarHash     string
	NarSize     int64
	References  []string
	Deriver     string
	Sigs        []string
	CA          string
	Created     time.Time
	LastAccess  time.Time
	// Copied, on a record being indexed, says it is a copy of one indexed
	// before (nixbucket migrate): indexing it leaves the records it refers
	// to as they were, where a record pushed or fetched now marks them
	// used (see ReferencedHashes). It is not stored.
	Copied bool
	// NARChecked, on a record being indexed, says its writer found its
	// NAR in the bucket (binarycache's hook, before a client's narinfo
	// is accepted): indexing it must find the NAR again, in the same
	// transaction, else it fails with ErrNARMissing (see GuardedNAR). It
	// is not stored.
	NARChecked bool
}

// UseSlack is how recent a referenced record's last use may be for
// indexing a referrer to leave it as it is (see ReferencedHashes).
const UseSlack = 10 * time.Second

// CacheStats sums a bucket's narinfo index.
type CacheStats struct {
	Paths     int64
	NarBytes  int64 // sum of NarSize
	FileBytes int64 // sum of FileSize
}

// CacheSettings are what a bucket's synthesised nix-cache-info says, and
// where a pull-through bucket fetches the paths it lacks
// (internal/upstream). Strings rather than slices keep the struct
// comparable.
type CacheSettings struct {
	Priority      int
	WantMassQuery bool

	// Upstreams are the upstream caches' URLs, space-separated, in
	// priority order; "" means the bucket does not pull through.
	Upstreams string
	// UpstreamKeys are the "name:base64" public keys, space-separated,
	// that an upstream narinfo must be signed by.
	UpstreamKeys string
	// UpstreamTrustAny accepts upstream narinfos whatever their
	// signatures.
	UpstreamTrustAny bool
	// UpstreamNegativeTTL is how long an upstream miss is remembered; 0
	// means the default (an hour).
	UpstreamNegativeTTL time.Duration
	// UpstreamMaxConns bounds the NAR downloads in flight to each
	// upstream, and apart from them its narinfo lookups; 0 means the
	// default (16).
	UpstreamMaxConns int
	// UpstreamTimeout bounds the wait for an upstream's answer to a
	// narinfo request; 0 means the default (3 s). NAR downloads keep the
	// longer timeouts.
	UpstreamTimeout time.Duration
}

// DefaultCacheSettings apply to a bucket until set.
var DefaultCacheSettings = CacheSettings{Priority: 40, WantMassQuery: true}

// SigningKey is one of a bucket's narinfo signing keys, in the format of
// nix-store --generate-binary-cache-key ("name:base64(seed‖public)").
type SigningKey struct {
	Bucket  string
	Name    string
	Secret  string
	Created time.Time
}

// Nix is the Nix part of the Store.
//
// The narinfo index is kept by the object methods, in their transaction:
// PutObject of an object whose Narinfo field is set upserts its record;
// PutObject without it, DeleteObject and CompleteUpload of a key ending in
// ".narinfo" remove the key's record; DeleteBucket removes the bucket's
// records, settings and keys.
type Nix interface {
	// Narinfo returns the record of bucket's <hash>.narinfo: ErrNoSuchKey.
	Narinfo(ctx context.Context, bucket, hash string) (Narinfo, error)
	// Narinfos returns the records of those of hashes the bucket's index
	// holds, in no particular order, in one query: a closure is walked a
	// level at a time rather than a round trip per path. Hashes it does
	// not hold, and a missing bucket, give no record. Callers batch (a
	// thousand at a time, say).
	Narinfos(ctx context.Context, bucket string, hashes []string) ([]Narinfo, error)
	// CacheStats sums the bucket's index: ErrNoSuchBucket.
	CacheStats(ctx context.Context, bucket string) (CacheStats, error)
	// TouchNarinfos sets the last-access time of the given hashes' records
	// (missing ones are skipped) in one transaction; callers batch.
	TouchNarinfos(ctx context.Context, bucket string, hashes []string, at time.Time) error
	// ScanNarinfos returns up to limit (at least 1) whole records of the
	// bucket's index with hashes greater than after, in hash order: keyset
	// pagination, so verify streams a million records without holding
	// them. An empty page ends the scan. ErrNoSuchBucket.
	ScanNarinfos(ctx context.Context, bucket, after string, limit int) ([]Narinfo, error)

	// CacheSettings returns the bucket's settings, DefaultCacheSettings
	// until set: ErrNoSuchBucket.
	CacheSettings(ctx context.Context, bucket string) (CacheSettings, error)
	SetCacheSettings(ctx context.Context, bucket string, s CacheSettings) error

	// SigningKeys returns the bucket's keys by name: ErrNoSuchBucket.
	SigningKeys(ctx context.Context, bucket string) ([]SigningKey, error)
	AddSigningKey(ctx context.Context, k SigningKey) error           // ErrSigningKeyExists, ErrNoSuchBucket
	RemoveSigningKey(ctx context.Context, bucket, name string) error // ErrNoSuchSigningKey
}

// ReferencedHashes returns the store path hashes n refers to, itself left
// out; none for a Copied record. Indexing a record makes the records it
// refers to used at its Created time (when later than their last access),
// in the same transaction: a path a fresh push refers to is in use, and a
// garbage collector that planned to delete it sees so before it deletes
// (see internal/lifecycle/gc), so no accepted narinfo loses a reference.
//
// A record last used less than UseSlack before that time is left as it is:
// every push of a closure refers to the same few paths (glibc), and
// rewriting their rows for each would make concurrent pushes contend for
// them. A collector takes a path used that recently before it planned as
// used since (see internal/lifecycle/gc).
func ReferencedHashes(n *Narinfo) []string {
	if n.Copied {
		return nil
	}
	var out []string
	for _, r := range n.References {
		if h := nixgraph.RefHash(r); len(h) == nixgraph.HashLen && h != n.Hash {
			out = append(out, h)
		}
	}
	return out
}
