package server

import (
	"path/filepath"

	"github.com/nixbucket/nixbucket/internal/pullthrough"
	"github.com/nixbucket/nixbucket/internal/upstream"
)

// openPull makes the pull-through service: every bucket with upstreams
// fills its misses from them. NARs download into upstream-tmp/ in the
// data directory (local even when blobs are in S3, since every client of
// a download reads it from there while it grows); what a crash left there
// is removed now.
func (s *Server) openPull() error {
	s.pull = &pullthrough.Service{
		Store: s.meta, Objects: s.objects, Log: s.log,
		TempDir: filepath.Join(s.opts.Data, "upstream-tmp"),
	}
	return s.pull.ClearTemp()
}

// UpstreamStats returns each pull-through bucket's upstream counters
// (fetches, bytes, errors, mismatches per upstream), for metrics.
func (s *Server) UpstreamStats() map[string][]upstream.SourceStats {
	return s.pull.Stats()
}
