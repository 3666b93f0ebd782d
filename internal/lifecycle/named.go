package lifecycle

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// named is what keeps an expired object a narinfo names as its NAR: the
// keys under the rules' prefixes that the narinfos the sweep read name,
// and since, after which a narinfo's Created has each delete's
// transaction judge it (Objects.Expire) instead. The sweep reads the
// whole index once, then, before each page of deletes, the narinfos
// pushed since it last looked, so that the window each delete scans stays
// a page long, not as long as the sweep (gc's late does the same).
type named struct {
	rules []meta.LifecycleRule
	keys  map[string]bool
	since time.Time
}

// namedMargin is how long before a look at the index the narinfos each
// delete's transaction judges begin: a narinfo's Created is taken before
// its transaction commits, and a node whose clock is behind dates its
// narinfos earlier.
const namedMargin = time.Minute

// add records url when it is under a rule's prefix.
func (n *named) add(url string) {
	for _, r := range n.rules {
		if strings.HasPrefix(url, r.Prefix) {
			n.keys[url] = true
			return
		}
	}
}

// readNamed reads the NARs every narinfo of the bucket names.
func (s *Service) readNamed(ctx context.Context, bucket string, n *named) error {
	n.since = time.Now().Add(-namedMargin)
	after := ""
	for {
		edges, err := s.Store.ScanNarinfoEdges(ctx, bucket, after, batch*10)
		if err != nil {
			return fmt.Errorf("reading the narinfo index: %w", err)
		}
		if len(edges) == 0 {
			return nil
		}
		for _, e := range edges {
			n.add(e.URL)
		}
		after = edges[len(edges)-1].Hash
	}
}

// recentNamed adds the NARs that narinfos pushed since n.since name, newest
// first in growing pages, and moves n.since up to this look.
func (s *Service) recentNamed(ctx context.Context, bucket string, n *named) error {
	now := time.Now()
	for limit := 64; ; limit *= 4 {
		recs, err := s.Store.RecentNarinfos(ctx, bucket, limit)
		if err != nil {
			return fmt.Errorf("narinfos pushed during the sweep: %w", err)
		}
		done := len(recs) < limit
		for _, r := range recs {
			if !r.Created.After(n.since) {
				done = true
				break
			}
			n.add(r.URL)
		}
		if done {
			n.since = now.Add(-namedMargin)
			return nil
		}
	}
}
