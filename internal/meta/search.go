package meta

import (
	"context"
	"strings"
)

// Search is the part of the Store the web console browses the narinfo
// index with. Both methods read indexes (the primary key for hashes, and
// the narinfos_name and narinfos_created indexes of the migrations named
// "search"), so a page costs a few index probes however large the bucket.
type Search interface {
	// SearchNarinfos returns up to limit (at least 1) records of the
	// bucket whose hash starts with q, then those whose name (the store
	// path's part after "<hash>-") starts with q, each group in order and
	// without repeats. A q that could be in no store path (see
	// SearchTerm) gives none. ErrNoSuchBucket.
	SearchNarinfos(ctx context.Context, bucket, q string, limit int) ([]Narinfo, error)
	// RecentNarinfos returns up to limit (at least 1) records of the
	// bucket, the most recently pushed first. ErrNoSuchBucket.
	RecentNarinfos(ctx context.Context, bucket string, limit int) ([]Narinfo, error)
}

// SearchTerm cleans a search query: a full store path or basename becomes
// its hash part when it starts with one, and ok is false for an empty
// query or one with a character no store path name holds (Nix allows
// letters, digits and "+-._?="), so stores may search by byte ranges:
// every such character sorts below SearchEnd.
func SearchTerm(q string) (term string, ok bool) {
	q = strings.TrimSpace(q)
	if i := strings.LastIndexByte(q, '/'); i >= 0 {
		q = q[i+1:]
	}
	if len(q) > 33 && q[32] == '-' {
		q = q[:32] // a basename: its hash names it
	}
	if q == "" || len(q) > 211 {
		return "", false
	}
	for i := 0; i < len(q); i++ {
		c := q[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("+-._?=", c) >= 0) {
			return "", false
		}
	}
	return q, true
}

// SearchEnd sorts after every character SearchTerm accepts: a prefix p
// covers the byte range [p, p+SearchEnd).
const SearchEnd = "\x7f"
