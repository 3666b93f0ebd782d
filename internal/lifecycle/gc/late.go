package gc

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// late is what the narinfos pushed since the run was planned claim: a push
// that died left a NAR, listing or log, the push runs again while the
// collector runs, and Nix, finding them in the cache (HEAD), uploads only
// the narinfo. The plan took them for orphans; they stay.
type late struct {
	checked time.Time // when the index was last read for newcomers
	hashes  map[string]bool
	urls    map[uint64]bool
	derivs  map[uint64]bool
}

// lateMargin is how far before the run began, or before the last check,
// a write or read counts as one the plan may not have seen: a narinfo's
// Created is taken before its transaction commits, reads are recorded in
// batches, and indexing a referrer leaves a reference used within
// meta.UseSlack as it was.
const lateMargin = time.Minute

// margin is lateMargin, or the grace period when shorter: an owner who
// sets a grace of seconds wants what is older deleted. Never less than
// meta.UseSlack, though: a push during the run leaves a reference used
// that recently as it was, and the path must still count as used.
func (s *sweep) margin() time.Duration {
	return max(min(lateMargin, s.rep.Retention.Grace), meta.UseSlack)
}

// refresh reads the narinfos created since the last check (since the run
// was planned, the first time), newest first, in growing pages.
func (s *sweep) refresh(ctx context.Context) error {
	l := &s.late
	if l.hashes == nil {
		l.hashes, l.urls, l.derivs = map[string]bool{}, map[uint64]bool{}, map[uint64]bool{}
		l.checked = s.planned
	}
	since := l.checked.Add(-s.margin())
	now := s.c.now() // the clock planned was read from, not another
	for limit := 64; ; limit *= 4 {
		recs, err := s.c.Meta.RecentNarinfos(ctx, s.bucket, limit)
		if err != nil {
			return fmt.Errorf("narinfos pushed during the run: %w", err)
		}
		done := len(recs) < limit
		for _, n := range recs {
			if !n.Created.After(since) {
				done = true
				break
			}
			l.hashes[n.Hash] = true
			l.urls[key(n.URL)] = true
			if n.Deriver != "" && n.Deriver != "unknown-deriver" {
				l.derivs[key(n.Deriver)] = true
			}
		}
		if done {
			l.checked = now
			return nil
		}
	}
}

// claimed reports whether a narinfo pushed during the run claims the
// object: its NAR, listing or log, or the debuginfo entry naming that NAR
// or the realisation naming that path (target, for those).
func (l *late) claimed(k objectKind, objKey, hash, target string) bool {
	switch k {
	case narObject:
		return l.urls[key(objKey)]
	case logObject:
		return l.derivs[key(strings.TrimPrefix(objKey, "log/"))]
	case listingObject:
		return l.hashes[hash]
	case auxObject:
		return l.urls[key(target)] || l.hashes[target]
	}
	return false
}
