package server

import (
	"context"
	"fmt"
	"time"

	"github.com/nixbucket/nixbucket/internal/lifecycle/gc"
	"github.com/nixbucket/nixbucket/internal/meta"
)

// gcRest paces the server's own collections: they work half the time,
// so that requests keep most of the machine (bench/gc.sh: with 2 the
// GC took five times as long for little gain).
const gcRest = 1

// collector is the garbage collector over the server's own object core:
// its deletes forget the memo as any delete does, so it needs no
// announcement.
func (s *Server) collector() *gc.Collector {
	return &gc.Collector{Meta: s.meta, Objects: s.objects, Pins: meta.Pinned{Pins: s.meta}, Log: s.log, Rest: gcRest}
}

// CollectGarbage runs one collection of bucket under its retention
// settings, after writing out the narinfo reads recorded so far (they are
// uses that keep paths).
func (s *Server) CollectGarbage(ctx context.Context, bucket string, dryRun bool) (gc.Report, error) {
	r, err := s.meta.Retention(ctx, bucket)
	if err != nil {
		return gc.Report{}, err
	}
	s.cache.Flush(ctx)
	rep, err := s.collector().Run(ctx, bucket, r, dryRun)
	// A run that failed half way counts too, with what it removed.
	if t := rep.Total(); !dryRun && (err == nil || t != (gc.Figures{})) {
		s.metrics.GC(t.Paths, t.Objects(), t.Bytes)
		if t.Objects() > 0 {
			s.refreshAfterRemoval(ctx)
		}
	}
	return rep, err
}

// collectAll is the "gc" job (see internal/jobs): a collection of every
// bucket with gc=on, logging each one's figures.
func (s *Server) collectAll(ctx context.Context) error {
	buckets, err := s.meta.Buckets(ctx)
	if err != nil {
		return fmt.Errorf("scheduled gc: listing buckets: %w", err)
	}
	for _, b := range buckets {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.collectScheduled(ctx, b)
	}
	return nil
}

func (s *Server) collectScheduled(ctx context.Context, b meta.Bucket) {
	r, err := s.meta.Retention(ctx, b.Name)
	if err != nil || !r.GC {
		return
	}
	rep, err := s.CollectGarbage(ctx, b.Name, false)
	if err != nil {
		s.log.Warn("scheduled gc failed", "bucket", b.Name, "err", err)
		return
	}
	logReport(s, rep)
}

func logReport(s *Server, rep gc.Report) {
	t := rep.Total()
	args := []any{"bucket", rep.Bucket, "paths", rep.Paths, "kept", rep.Kept,
		"removed_paths", t.Paths, "nars", t.NARs, "listings", t.Listings, "logs", t.Logs, "aux", t.Aux, "bytes", t.Bytes,
		"stale_paths", rep.Removed[gc.Stale].Paths, "oversize_paths", rep.Removed[gc.OverSize].Paths,
		"orphan_files", rep.Removed[gc.Orphan].Objects(),
		"rescued", rep.Rescued, "took", rep.Duration.Round(time.Millisecond)}
	s.log.Info("gc", args...)
}
