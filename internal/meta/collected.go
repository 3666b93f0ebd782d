package meta

import (
	"errors"
	"strings"
	"time"
)

// A push the garbage collector races.
//
// Nix uploads a path's NAR only if the cache does not have it yet (a HEAD
// of nar/…), then its narinfo. A push that died long ago leaves a NAR no
// narinfo names; when it runs again, Nix finds that NAR and sends only the
// narinfo. If the collector deletes the NAR between Nix's HEAD and the
// narinfo's commit, the bucket would accept a narinfo whose NAR is gone:
// a path every substituter then fails on, and which `nix copy` will not
// push again (the narinfo is there). Two checks, each in its own
// transaction, close that race on both stores (SQLite writes one at a
// time; PostgreSQL's transactions are serializable, so of a narinfo and a
// delete that race, one sees the other or fails and runs again):
//
//   - the collector's delete of a NAR (GC.CollectObject) is refused when a
//     narinfo indexed since the collector looked names the NAR;
//   - that delete leaves a record that the key was collected, and a
//     narinfo naming a collected key that holds nothing again fails with
//     ErrNARCollected for CollectedFor: the client is told to push again,
//     which uploads the NAR first.
//
// A narinfo that merely arrives before its NAR (an `aws s3 sync` of a
// cache directory uploads in name order) is accepted as before: only a
// NAR the collector deleted is asked for.

// ErrNARCollected refuses a narinfo whose NAR the garbage collector
// deleted lately (see CollectedFor) and which the bucket does not hold
// again.
var ErrNARCollected = errors.New("its NAR was garbage-collected while it was pushed")

// CollectedFor is how long a narinfo naming a collected NAR is refused
// (ErrNARCollected) while the NAR is not uploaded again. A push's HEAD
// of the NAR and its narinfo are seconds apart; a day leaves room for a
// stalled one, and the garbage collector forgets older records.
const CollectedFor = 24 * time.Hour

// GuardedNAR returns the key of n's NAR that indexing n must find unless
// it was not collected (ErrNARCollected), or "" when n needs no such
// guard: a record copied (nixbucket migrate) or pulled from an upstream
// (its NAR comes later, from there), or a URL that is no key of the
// bucket (absolute).
func GuardedNAR(n *Narinfo) string {
	if n == nil || n.Copied || n.Pulled || n.URL == "" || strings.Contains(n.URL, "://") ||
		strings.HasPrefix(n.URL, "/") || CheckKey(n.URL) != nil {
		return ""
	}
	return n.URL
}
