package objects

import "slices"

// SetMinFilterBits sets the smallest filter of absent keys (a power of
// two, at least 64) and returns a func restoring it.
func SetMinFilterBits(n int64) func() {
	old := minFilterBits
	minFilterBits = n
	return func() { minFilterBits = old }
}

// FilterReady reports whether bucket's filter of absent keys is in use.
func (s *Service) FilterReady(bucket string) bool {
	s.absent.mu.RLock()
	defer s.absent.mu.RUnlock()
	f := s.absent.filters[bucket]
	return f != nil && f.ready.Load() && f.adds.Load() <= f.capacity
}

// Tracked returns the buckets the Service keeps state of in memory: a
// filter of absent keys or a Version counter.
func (s *Service) Tracked() []string {
	seen := map[string]bool{}
	s.absent.mu.RLock()
	for b := range s.absent.filters {
		seen[b] = true
	}
	s.absent.mu.RUnlock()
	s.versions.buckets.Range(func(b, _ any) bool {
		seen[b.(string)] = true
		return true
	})
	out := make([]string, 0, len(seen))
	for b := range seen {
		out = append(out, b)
	}
	slices.Sort(out)
	return out
}
