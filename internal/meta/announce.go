package meta

import "context"

// Announcer is how a store tells the caches kept in memory (access keys,
// users, policies, tokens, cache settings; see internal/gencache) that
// what they hold may be stale, in this process and in every other one
// working on the same store: another server, the admin CLI.
//
// Generation returns the store's generation, one counter of the store
// (values read through different instances compare):
//
//   - It never goes back: a call that begins after another returned
//     returns at least as much, through any instance.
//   - It moves past every value read before a change began once the
//     change returned, through any instance. The changes announced:
//     every committed change of the IAM part (users, access keys, tokens,
//     bucket policies, settings), CreateBucket and DeleteBucket, and
//     SetCacheSettings, AddSigningKey and RemoveSigningKey. Object and
//     upload writes, and the narinfo index, are not announced.
//   - It moves only once the change committed, so a cache that reads it
//     before loading, stores what it loaded under the value it read, and
//     reloads when the value differs, never keeps data older than a
//     change that returned before its next read.
//   - Reads never move it; a write that changed nothing may.
//
// It is cheap enough to call on every request. The conformance suite
// (metatest: Generation, GenerationShared, GenerationMonotonic) checks
// these points through two instances of one store.
type Announcer interface {
	Generation(ctx context.Context) (uint64, error)
}

// ObjectWatcher is implemented by a store that other processes write
// objects through (every server on one PostgreSQL database), so that a
// process keeping answers about objects in memory (objects.Service's
// memo and its filters of absent keys) can drop exactly the keys that
// others changed, rather than keep no answers at all.
//
//   - ObjectMark returns a mark that rises whenever another process's
//     object change (a put, a delete that deleted, a completed upload) is
//     heard, and whether answers kept in memory about bucket's objects
//     may be used now: false while the store cannot vouch that it hears
//     every change to them. A store may make each process register a
//     bucket before it hears its changes (so that writes to a bucket no
//     other process keeps answers about need not wait for them): the
//     first call for a bucket starts that, and says false until it is
//     done. Bucket "" asks whether answers may be kept at all. It is
//     cheap enough to call on every request (a few atomic loads).
//   - ObjectChanges calls fn for each bucket and key changed by another
//     process after mark since, and returns the mark reached; all reports
//     that some changes were missed, so that every answer kept must go
//     (fn was not called).
//   - A change is heard through every instance that vouched for its
//     bucket before the write that made it returns: a reader that calls
//     ObjectMark after a write returned, through any such instance, sees
//     a mark past the change.
//
// The conformance suite (metatest: ObjectChanges) checks these points
// through two instances of one store.
type ObjectWatcher interface {
	ObjectMark(bucket string) (mark uint64, ok bool)
	ObjectChanges(ctx context.Context, since uint64, fn func(bucket, key string)) (next uint64, all bool, err error)
}
