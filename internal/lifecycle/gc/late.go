package gc

import (
	"context"
	"fmt"
	"strings"
	"time"
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

// lateMargin is how far before the last check a newcomer is looked for
// again: a narinfo's Created is taken before its transaction commits.
const lateMargin = time.Minute

// refresh reads the narinfos created since the last check (since the run
// was planned, the first time), newest first, in growing pages.
func (s *sweep) refresh(ctx context.Context) error {
	l := &s.late
	if l.hashes == nil {
		l.hashes, l.urls, l.derivs = map[string]bool{}, map[uint64]bool{}, map[uint64]bool{}
		l.checked = s.planned.Add(lateMargin)
	}
	since := l.checked.Add(-lateMargin)
	now := time.Now()
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
