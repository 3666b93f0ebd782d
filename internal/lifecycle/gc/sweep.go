package gc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nixbucket/nixbucket/internal/cacheaux"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// sweep is the act of one run.
type sweep struct {
	c        *Collector
	bucket   string
	g        *graph
	rep      *Report
	dryRun   bool
	planned  time.Time // when the run began: later writes and reads rescue a path
	graceCut time.Time // nothing modified after it is deleted
	late     late      // what narinfos pushed during the run claim (late.go)
}

func (s *sweep) batch() int {
	if s.c.Batch > 0 {
		return s.c.Batch
	}
	return 256
}

func (s *sweep) workers() int {
	if s.c.Workers > 0 {
		return s.c.Workers
	}
	return 16
}

func (g *graph) reason(id int32) Reason {
	if g.is(id, fOverSize) {
		return OverSize
	}
	return Stale
}

// deletion is one object to delete and what its deletion found.
type deletion struct {
	key     string
	cond    objects.Conditions
	id      int32 // the narinfo's path, for narinfos
	skipped bool  // written since: kept
	err     error
}

// run deletes a batch, several at a time so that the store commits them
// together, and waits for all; then it yields to the requests waiting.
func (s *sweep) run(ctx context.Context, ds []deletion) error {
	began := time.Now()
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(s.workers(), len(ds)) {
		wg.Go(func() {
			for i := range next {
				d := &ds[i]
				err := s.c.Objects.Delete(ctx, s.bucket, d.key, d.cond)
				switch {
				case errors.Is(err, meta.ErrPreconditionFailed):
					d.skipped = true
				case err != nil:
					d.err = fmt.Errorf("delete %s/%s: %w", s.bucket, d.key, err)
				}
			}
		})
	}
	for i := range ds {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, d := range ds {
		if d.err != nil {
			return d.err
		}
	}
	return s.c.rest(ctx, began)
}

// narinfos deletes the unkept narinfos level by level, each level in
// batches and whole before the next: a narinfo goes only after every
// narinfo referring to it went, so none served ever lacks a reference.
// A narinfo written or fetched since the run began is kept, with its
// closure (its references come in later levels).
func (s *sweep) narinfos(ctx context.Context) error {
	g := s.g
	order, levels := g.deletionOrder()
	start, done := 0, 0
	var stack []int32
	for _, end := range levels {
		for lo := start; lo < end; lo += s.batch() {
			hi := min(lo+s.batch(), end)
			var err error
			if stack, err = s.repin(ctx, stack); err != nil {
				return err
			}
			var ds []deletion
			for _, id := range order[lo:hi] {
				if g.is(id, fKept) { // rescued with a referrer
					continue
				}
				// A path fetched since the run began was wanted: keep it.
				// So was one a narinfo pushed since refers to: indexing
				// that narinfo made it used (meta.ReferencedHashes). Since
				// a little before the run began, in fact (margin). The
				// delete's transaction judges it, so a push that commits
				// just before the delete keeps the path too.
				ds = append(ds, deletion{key: g.hash(id) + ".narinfo", id: id, cond: objects.Conditions{
					UnmodifiedSince: s.planned, UnusedSince: s.planned.Add(-s.margin())}})
			}
			if !s.dryRun {
				if err := s.run(ctx, ds); err != nil {
					return err
				}
			}
			for _, d := range ds {
				if d.skipped {
					s.rep.Rescued++
					stack = g.mark(d.id, stack)
					continue
				}
				f := &s.rep.Removed[g.reason(d.id)]
				f.Paths++
				f.Bytes += int64(g.niSize[d.id])
			}
			done += hi - lo
			s.c.progress("deleting narinfos", done, len(order))
		}
		start = end
		if err := s.announce(ctx); err != nil {
			return err
		}
	}
	return nil
}

// repin reads the bucket's pins again before a batch of narinfo deletes,
// and keeps, with its closure, a path pinned since the run was planned
// (`nixbucket pin add` or the pins API racing the collector). A pin added
// needs its path's narinfo, so a pin that commits after the batch deleted
// the path fails instead.
func (s *sweep) repin(ctx context.Context, stack []int32) ([]int32, error) {
	if s.dryRun || s.c.Pins == nil {
		return stack, nil
	}
	paths, err := s.c.Pins.PinnedPaths(ctx, s.bucket)
	if err != nil {
		return stack, fmt.Errorf("pins of %s: %w", s.bucket, err)
	}
	for _, sp := range paths {
		id := s.g.lookup(pathHash(sp[strings.LastIndexByte(sp, '/')+1:]))
		if id >= 0 && !s.g.is(id, fKept) {
			s.rep.Rescued++
			stack = s.g.mark(id, stack)
		}
	}
	return stack, nil
}

// announce runs Collector.Announce, unless this is a dry run.
func (s *sweep) announce(ctx context.Context) error {
	if s.dryRun || s.c.Announce == nil {
		return nil
	}
	return s.c.Announce(ctx)
}

// files deletes the NARs, listings and build logs that no kept narinfo
// refers to and that are older than the grace period, in key order, in
// batches; and with them the debuginfo entries naming a NAR no kept
// narinfo refers to (debuginfo/ sorts before nar/, so they go before
// their NAR) and the realisations naming a path that is not kept.
func (s *sweep) files(ctx context.Context) error {
	g := s.g
	keptURLs := g.keys(g.url, func(id int32) bool { return g.is(id, fKept) })
	keptDerivers := g.keys(g.deriver, func(id int32) bool { return g.is(id, fKept) })
	// What the unkept paths held goes for their reason; the rest is orphan.
	overURLs := g.keys(g.url, func(id int32) bool { return !g.is(id, fKept) && g.is(id, fOverSize) })
	overDerivers := g.keys(g.deriver, func(id int32) bool { return !g.is(id, fKept) && g.is(id, fOverSize) })
	staleURLs := g.keys(g.url, func(id int32) bool { return !g.is(id, fKept) && !g.is(id, fOverSize) })
	staleDerivers := g.keys(g.deriver, func(id int32) bool { return !g.is(id, fKept) && !g.is(id, fOverSize) })
	reasonOf := func(k uint64, over, stale keySet) Reason {
		switch {
		case over.has(k):
			return OverSize
		case stale.has(k):
			return Stale
		}
		return Orphan
	}
	type pending struct {
		d            deletion
		reason       Reason
		kind         objectKind
		size         int64
		hash, target string // a listing's path; what a pointing object names
	}
	var batch []pending
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if !s.dryRun {
			if err := s.refresh(ctx); err != nil {
				return err
			}
			batch = slices.DeleteFunc(batch, func(p pending) bool {
				return s.late.claimed(p.kind, p.d.key, p.hash, p.target)
			})
			// A narinfo pushed since that check (a little before:
			// margin) that names a NAR keeps it, judged in the delete's
			// transaction; one that comes after it finds no NAR and is
			// refused (meta/collected.go). Those pushed before the check
			// it kept already: the window stays a batch long, so a long
			// run's deletes do not each scan every narinfo pushed since
			// the run began.
			for i := range batch {
				if batch[i].kind == narObject {
					batch[i].d.cond.Collect = s.late.checked.Add(-s.margin())
				}
			}
		}
		ds := make([]deletion, len(batch))
		for i, p := range batch {
			ds[i] = p.d
		}
		if !s.dryRun {
			if err := s.run(ctx, ds); err != nil {
				return err
			}
		}
		for i, p := range batch {
			if ds[i].skipped {
				continue
			}
			f := &s.rep.Removed[p.reason]
			f.Bytes += p.size
			switch p.kind {
			case narObject:
				f.NARs++
			case listingObject:
				f.Listings++
			case logObject:
				f.Logs++
			case auxObject:
				f.Aux++
			}
		}
		batch = batch[:0]
		return nil
	}
	err := s.c.scanObjects(ctx, s.bucket, "deleting NARs, listings and logs", func(objs []meta.Object) error {
		for _, o := range objs {
			if o.Modified.After(s.graceCut) {
				continue
			}
			kind, h := kindOf(o.Key)
			var reason Reason
			var target string
			switch kind {
			case narObject:
				k := key(o.Key)
				if keptURLs.has(k) {
					continue
				}
				reason = reasonOf(k, overURLs, staleURLs)
			case logObject:
				k := key(strings.TrimPrefix(o.Key, "log/"))
				if keptDerivers.has(k) {
					continue
				}
				reason = reasonOf(k, overDerivers, staleDerivers)
			case listingObject:
				id := g.lookup(h)
				switch {
				case id < 0 || !g.is(id, fPresent):
					reason = Orphan
				case g.is(id, fKept):
					continue
				default:
					reason = g.reason(id)
				}
			default:
				var keep bool
				var err error
				if reason, target, keep, err = s.auxReason(ctx, o, keptURLs, overURLs, staleURLs); err != nil {
					return err
				}
				if keep {
					continue
				}
				kind = auxObject
			}
			batch = append(batch, pending{
				d:      deletion{key: o.Key, id: -1, cond: objects.Conditions{UnmodifiedSince: s.graceCut}},
				reason: reason, kind: kind, size: o.Size, hash: h, target: target,
			})
			if len(batch) >= s.batch() {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return flush()
	})
	if err != nil {
		return err
	}
	return s.announce(ctx)
}

// auxReason says whether o, a debuginfo entry or realisation, stays (keep)
// or why it goes; any other object stays. A debuginfo entry goes with its
// NAR, a realisation with its path, and either as an orphan when what it
// names is not in the bucket; one that does not parse stays.
func (s *sweep) auxReason(ctx context.Context, o meta.Object, keptURLs, overURLs, staleURLs keySet) (r Reason, target string, keep bool, err error) {
	a, err := s.c.readAux(ctx, s.bucket, s.g, o)
	if err != nil {
		return 0, "", false, err
	}
	if a.Kind == 0 || a.Target == "" {
		return 0, "", true, nil
	}
	g := s.g
	switch a.Kind {
	case cacheaux.DebugInfo:
		k := key(a.Target)
		if keptURLs.has(k) {
			return 0, "", true, nil
		}
		switch {
		case overURLs.has(k):
			return OverSize, a.Target, false, nil
		case staleURLs.has(k):
			return Stale, a.Target, false, nil
		}
		return Orphan, a.Target, false, nil
	default:
		id := g.lookup(a.Target)
		switch {
		case id < 0 || !g.is(id, fPresent):
			return Orphan, a.Target, false, nil
		case g.is(id, fKept):
			return 0, "", true, nil
		}
		return g.reason(id), a.Target, false, nil
	}
}
