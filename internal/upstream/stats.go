package upstream

import "sync/atomic"

// SourceStats are one source's counters since the Fetcher was made, for
// logs and for a metrics collector to export (all monotonic).
type SourceStats struct {
	Source     string // Source.Name()
	Fetches    uint64 // requests sent (narinfos and NARs)
	Bytes      uint64 // body bytes received
	NotFound   uint64 // requests answered "not found"
	Errors     uint64 // requests that failed (ErrUnavailable), bodies cut included
	Mismatches uint64 // NARs whose size or hash differed from the narinfo
	Untrusted  uint64 // narinfos refused: bad form or no trusted signature
}

type counters struct {
	fetches, bytes, notFound, errors, mismatches, untrusted atomic.Uint64
}

// Stats returns each source's counters, in priority order.
func (f *Fetcher) Stats() []SourceStats {
	out := make([]SourceStats, len(f.sources))
	for i, s := range f.sources {
		c := &s.counters
		out[i] = SourceStats{
			Source:     s.src.Name(),
			Fetches:    c.fetches.Load(),
			Bytes:      c.bytes.Load(),
			NotFound:   c.notFound.Load(),
			Errors:     c.errors.Load(),
			Mismatches: c.mismatches.Load(),
			Untrusted:  c.untrusted.Load(),
		}
	}
	return out
}
