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
