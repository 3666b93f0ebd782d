package gc

import (
	"context"
	"errors"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/storage"
)

// IndexReader is what Broken reads.
type IndexReader interface {
	ScanNarinfoEdges(ctx context.Context, bucket, after string, limit int) ([]meta.NarinfoEdge, error)
	Object(ctx context.Context, bucket, key string) (meta.Object, error)
}

// Broken returns up to limit descriptions of the bucket's narinfos that
// break the invariant the collector keeps: each indexed narinfo has its
// object, its NAR (whose blobs exist, when blobs is non-nil; a pulled
// path's NAR may still be upstream) and every reference indexed. It holds every hash in memory: a check for tests and
// small buckets, not the verify command.
func Broken(ctx context.Context, s IndexReader, blobs storage.Backend, bucket string, limit int) ([]string, error) {
	var all []meta.NarinfoEdge
	present := map[string]bool{}
	after := ""
	for {
		page, err := s.ScanNarinfoEdges(ctx, bucket, after, scanPage)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			present[e.Hash] = true
			all = append(all, meta.NarinfoEdge{Hash: e.Hash, URL: e.URL, References: e.References})
		}
		after = page[len(page)-1].Hash
	}
	var out []string
	report := func(format string, args ...any) bool {
		out = append(out, fmt.Sprintf(format, args...))
		return len(out) >= limit
	}
	for _, e := range all {
		if err := exists(ctx, s, blobs, bucket, e.Hash+".narinfo"); err != nil {
			if report("%s.narinfo: %v", e.Hash, err) {
				return out, nil
			}
		}
		if err := exists(ctx, s, blobs, bucket, e.URL); err != nil && !pulledPending(ctx, s, bucket, e.Hash, err) {
			if report("%s.narinfo: NAR %s: %v", e.Hash, e.URL, err) {
				return out, nil
			}
		}
		for _, r := range e.References {
			if h := pathHash(r); !present[h] {
				if report("%s.narinfo: reference %s is missing", e.Hash, r) {
					return out, nil
				}
			}
		}
	}
	return out, nil
}

var errMissing = errors.New("missing")

// pulledPending reports whether a NAR that exists failed for is the NAR
// of a path pulled from an upstream and not fetched yet: the narinfo
// carries objects.PulledNote and the NAR is missing, not broken.
func pulledPending(ctx context.Context, s IndexReader, bucket, hash string, err error) bool {
	if !errors.Is(err, errMissing) {
		return false
	}
	o, oerr := s.Object(ctx, bucket, hash+".narinfo")
	return oerr == nil && objects.Pulled(o)
}

func exists(ctx context.Context, s IndexReader, blobs storage.Backend, bucket, key string) error {
	o, err := s.Object(ctx, bucket, key)
	if errors.Is(err, meta.ErrNoSuchKey) {
		return errMissing
	}
	if err != nil || blobs == nil {
		return err
	}
	for _, seg := range o.Segments {
		if seg.Inline() {
			continue
		}
		b, err := blobs.Open(ctx, seg.Blob)
		if err != nil {
			return fmt.Errorf("blob %s: %w", seg.Blob, err)
		}
		b.Close()
	}
	return nil
}
