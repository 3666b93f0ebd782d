package meta

import (
	"errors"
	"strings"
)

// A push the garbage collector races.
//
// Nix uploads a path's NAR only if the cache does not have it yet (a HEAD
// of nar/…), then its narinfo, which the bucket accepts only if the NAR
// is there (binarycache's hook). A push that died long ago leaves a NAR
// no narinfo names; when it runs again, Nix finds that NAR and sends only
// the narinfo. Were the collector to delete the NAR between the hook's
// look and the narinfo's commit, the bucket would hold a narinfo whose NAR
// is gone: a path every substituter then fails on, and which `nix copy`
// will not push again (the narinfo is there). Two checks, each in its own
// transaction, close that race on both stores (SQLite writes one at a
// time; PostgreSQL's transactions are serializable, so of a narinfo and a
// delete that race, one sees the other or fails and runs again):
//
//   - the collector's delete of a NAR (GC.CollectObject) is refused when a
//     narinfo indexed since the collector looked names the NAR;
//   - indexing a narinfo whose NAR the bucket does not hold fails with
//     ErrNARMissing: the client is told to push again, which uploads the
//     NAR first.

// ErrNARMissing refuses a narinfo whose NAR is not in the bucket when it
// is indexed (see GuardedNAR).
var ErrNARMissing = errors.New("the NAR it names is not in the bucket (deleted meanwhile); upload the NAR first")

// GuardedNAR returns the key of n's NAR that indexing n must find in the
// same transaction (else ErrNARMissing): the URL of a record whose writer
// checked the NAR (NARChecked), when it is a key of the bucket; "" when n
// needs no such guard (a record copied by nixbucket migrate, or pulled
// from an upstream, whose NAR comes later from there).
func GuardedNAR(n *Narinfo) string {
	if n == nil || !n.NARChecked || n.URL == "" || strings.Contains(n.URL, "://") ||
		strings.HasPrefix(n.URL, "/") || CheckKey(n.URL) != nil {
		return ""
	}
	return n.URL
}
