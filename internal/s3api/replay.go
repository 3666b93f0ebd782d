package s3api

import (
	"context"
	"net/http"
)

// Replayed misses.
//
// A public cache answers the same absent paths again and again, and the
// answer (403 AccessDenied, or 404 NoSuchKey where anonymous callers may
// list) to an anonymous GET or HEAD without a query is a function of the
// bucket's objects and of the store's generation (policies, settings,
// buckets) alone, when the bucket's policy has no condition (which could
// read the caller's address, the time or the transport) and the bucket
// does not pull through (whose misses ask upstream caches). The objects
// Version holds both: it moves after every committed change of the
// bucket's objects, on this server or another on the store, and with the
// store's generation. So such a miss marks its Note with a check that the
// Version read before anything was looked up has not moved (the gencache
// pattern: a write that committed after the lookup moves the Version, so a
// miss read before a write is never given again after it), and the fast
// lane may give the same answer to the same request again without this
// handler (internal/fastlane, encore.go).

// readVersion notes the bucket's objects Version before a read that may
// miss looks anything up, when the miss could be given again.
func readVersion(q *request) {
	if !q.h.Replays || q.note == nil || !q.note.Offerable || !q.id.Anonymous || q.URL.RawQuery != "" || (q.Method != http.MethodGet && q.Method != http.MethodHead) {
		return
	}
	q.ver, q.verOK = q.h.Objects.BucketVersion(q.Context(), q.bucket)
}

// offerMiss marks the miss being answered as one that may be given again,
// for as long as the bucket's Version stays the one read before it.
func offerMiss(q *request) {
	if !q.verOK || q.note == nil {
		return
	}
	ctx := q.Context()
	if !q.h.Access.ContextFree(ctx, q.bucket) || (q.h.Pull != nil && q.h.Pull.Enabled(ctx, q.bucket)) {
		return
	}
	objs, bucket, ver := q.h.Objects, q.bucket, q.ver
	q.note.Still = func(ctx context.Context) bool {
		v, ok := objs.BucketVersion(ctx, bucket)
		return ok && v == ver
	}
}
