package objects

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
