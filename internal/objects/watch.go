package objects

import (
	"context"
	"sync"
	"sync/atomic"
)

// seen is how far this Service applied the object changes of other
// processes (Service.Watch).
type seen struct {
	mark atomic.Uint64
	mu   sync.Mutex // one catching up at a time
}

// inMemory reports whether the memo and the filters of absent keys may
// answer about bucket now (or, for "", at all), after forgetting what
// other processes changed since the last call (Service.Watch; see
// meta.ObjectWatcher). While nothing changed it costs a few atomic loads.
// A store that cannot vouch for the bucket's changes now (its listener is
// away, or the bucket is not registered yet) gives false, and every
// answer comes from the store until it can.
func (s *Service) inMemory(ctx context.Context, bucket string) bool {
	if s.NoMemo {
		return false
	}
	w := s.Watch
	if w == nil {
		return true
	}
	mark, ok := w.ObjectMark(bucket)
	if !ok {
		return false
	}
	if mark == s.seen.mark.Load() {
		return true
	}
	s.seen.mu.Lock()
	defer s.seen.mu.Unlock()
	since := s.seen.mark.Load()
	if since == mark {
		return true
	}
	next, all, err := w.ObjectChanges(ctx, since, func(bucket, key string) {
		// Forgetting refuses the answers of reads begun before (see
		// gencache.Forget): one that read the key before the other
		// process's commit cannot store what it read.
		s.forget(bucket, key)
		s.absent.note(bucket, key)
	})
	if err != nil {
		return false
	}
	if all {
		s.forgetAll()
		s.dropFilters()
	}
	s.seen.mark.Store(next)
	return true
}
