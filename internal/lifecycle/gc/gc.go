// Package gc is the closure-aware garbage collector of Nix binary caches.
//
// A run has a plan and an act. The plan streams the bucket's narinfo index
// into a compact graph and marks what is kept: the closure of the pinned
// paths, the paths younger than the grace period (pushes in flight) and
// the paths pushed or fetched within keep-days; over max-size it evicts
// least recently used roots with what only they keep (plan.go, pure). The
// act deletes the rest through the object core, as an S3 DeleteObject
// would, so blobs are reclaimed and a crash leaves a consistent cache:
// first the unkept narinfos, referrers before their references, then the
// NARs, listings and build logs no kept narinfo refers to, with the
// debuginfo entries naming a NAR that goes and the realisations naming a
// path that went (sweep.go).
//
// The invariant: every narinfo the bucket serves has its whole closure,
// each narinfo and NAR present — after a run, and at every moment of one.
package gc

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/cacheaux"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/units"
)

// Pinned gives the store paths a bucket's pins keep, with their closures,
// whatever the retention settings say.
type Pinned interface {
	PinnedPaths(ctx context.Context, bucket string) ([]string, error)
}

// Store is what the collector reads of the metadata store.
type Store interface {
	CacheStats(ctx context.Context, bucket string) (meta.CacheStats, error)
	ScanNarinfoEdges(ctx context.Context, bucket, after string, limit int) ([]meta.NarinfoEdge, error)
	Narinfo(ctx context.Context, bucket, hash string) (meta.Narinfo, error)
	ScanObjects(ctx context.Context, q meta.ScanQuery) ([]meta.Object, error)
	// RecentNarinfos returns the newest records first: the sweep looks
	// for narinfos pushed while it runs.
	RecentNarinfos(ctx context.Context, bucket string, limit int) ([]meta.Narinfo, error)
}

// Objects deletes objects and reads them: objects.Service, whose Delete
// keeps blobs and the narinfo index right. The collector reads the
// debuginfo entries and realisations to learn which NAR or path each
// names (cacheaux).
type Objects interface {
	Delete(ctx context.Context, bucket, key string, cond objects.Conditions) error
	cacheaux.Getter
}

// Collector runs collections. Its fields are set once before use.
type Collector struct {
	Meta    Store
	Objects Objects
	Pins    Pinned // nil: no pins
	Log     *slog.Logger
	Now     func() time.Time // nil means time.Now
	// Batch is how many keys are deleted together before the collector
	// yields (default 256); Workers how many deletes of a batch run at
	// once (default 16), so that the store commits them together.
	Batch, Workers int
	// Announce, if set, runs whenever objects deleted so far must stop
	// being served from memory by other processes before the collector
	// goes on: after each level of narinfos (before their references
	// go), and at the end. The admin command advances the store's
	// generation there, so that a running server drops what it remembers.
	// Announcing per level, not per batch, keeps the server's memo warm.
	Announce func(ctx context.Context) error
	// Rest, when positive, paces the run: after each batch of deletes or
	// page of a scan the collector sleeps Rest times as long as it took,
	// leaving the CPU and the disk to the requests of a server it runs
	// beside (1: half the time, 2: a third).
	Rest float64
	// Progress, if set, is told how a long run advances.
	Progress func(phase string, done, total int)
}

// Reason says why an object goes.
type Reason int

// The reasons, in report order.
const (
	Stale    Reason = iota // not pushed or fetched within keep-days, nor kept by a path that was
	OverSize               // evicted, least recently used first, to get under max-size
	Orphan                 // no narinfo refers to it
	numReasons
)

func (r Reason) String() string {
	return [...]string{"stale", "over max-size", "orphan"}[r]
}

// Figures count what goes (or would go) for one reason. Aux counts
// debuginfo entries and realisations (see cacheaux).
type Figures struct {
	Paths, NARs, Listings, Logs, Aux int64
	Bytes                            int64
}

func (f Figures) add(o Figures) Figures {
	return Figures{f.Paths + o.Paths, f.NARs + o.NARs, f.Listings + o.Listings, f.Logs + o.Logs, f.Aux + o.Aux, f.Bytes + o.Bytes}
}

// Objects counts the objects f removes: narinfos, NARs, listings, logs,
// debuginfo entries and realisations.
func (f Figures) Objects() int64 { return f.Paths + f.NARs + f.Listings + f.Logs + f.Aux }

// aux describes f's debuginfo entries and realisations, if any.
func (f Figures) aux() string {
	if f.Aux == 0 {
		return ""
	}
	return fmt.Sprintf(", %d debuginfo entries and realisations", f.Aux)
}

// Report is what a run found and did.
type Report struct {
	Bucket    string
	DryRun    bool
	Retention meta.Retention
	Paths     int   // narinfos in the index when the run began
	Kept      int   // of them kept
	Bytes     int64 // the bucket's narinfos, NARs, listings, logs, debuginfo entries and realisations before
	Projected int64 // the bytes the plan leaves
	Removed   [numReasons]Figures
	// Rescued counts paths the plan gave up but that were pushed again or
	// fetched while the run went on: they and their closures stay.
	Rescued  int
	Duration time.Duration
}

// Total sums the figures of every reason.
func (r Report) Total() Figures {
	var t Figures
	for _, f := range r.Removed {
		t = t.add(f)
	}
	return t
}

// String formats the report for people, one line per reason.
func (r Report) String() string {
	var b strings.Builder
	verb := "removed"
	if r.DryRun {
		verb = "would remove"
	}
	t := r.Total()
	fmt.Fprintf(&b, "bucket %s: %d paths, %d bytes (%s); kept %d paths\n", r.Bucket, r.Paths, r.Bytes, units.Bytes(r.Bytes), r.Kept)
	fmt.Fprintf(&b, "%s %d paths, %d NARs, %d listings, %d logs%s, %s\n", verb, t.Paths, t.NARs, t.Listings, t.Logs, t.aux(), units.Bytes(t.Bytes))
	for reason, f := range r.Removed {
		if f != (Figures{}) {
			fmt.Fprintf(&b, "  %-14s %d paths, %d NARs, %d listings, %d logs%s, %s\n", Reason(reason).String()+":", f.Paths, f.NARs, f.Listings, f.Logs, f.aux(), units.Bytes(f.Bytes))
		}
	}
	if r.Rescued > 0 {
		fmt.Fprintf(&b, "kept %d paths fetched or pushed again during the run\n", r.Rescued)
	}
	return b.String()
}

func (c *Collector) now() time.Time {
	if c.Now != nil {
		return c.Now().UTC()
	}
	return time.Now().UTC()
}

func (c *Collector) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}

func (c *Collector) progress(phase string, done, total int) {
	if c.Progress != nil {
		c.Progress(phase, done, total)
	}
}

// scanPage is how many records or objects one scan call returns.
const scanPage = 4096

// refsPerPath is the references per path the graph makes room for before
// it reads them: about what a NixOS system's paths have.
const refsPerPath = 10

// Run collects bucket's garbage under retention r; with dryRun it only
// reports what would go.
func (c *Collector) Run(ctx context.Context, bucket string, r meta.Retention, dryRun bool) (Report, error) {
	start := c.now()
	rep := Report{Bucket: bucket, DryRun: dryRun, Retention: r}
	g, err := c.load(ctx, bucket)
	if err != nil {
		return rep, err
	}
	rep.Paths = g.present()
	p := policy{now: start, ret: r}
	if c.Pins != nil {
		paths, err := c.Pins.PinnedPaths(ctx, bucket)
		if err != nil {
			return rep, fmt.Errorf("pins of %s: %w", bucket, err)
		}
		for _, sp := range paths {
			base := sp[strings.LastIndexByte(sp, '/')+1:]
			if id := g.lookup(pathHash(base)); id >= 0 {
				p.pinned = append(p.pinned, id)
			}
		}
	}
	graceCut := start.Add(-r.Grace)
	if p.total, p.orphan, err = c.measure(ctx, bucket, g, graceCut); err != nil {
		return rep, err
	}
	rep.Bytes = p.total
	rep.Projected = g.plan(p)
	s := &sweep{c: c, bucket: bucket, g: g, rep: &rep, dryRun: dryRun, planned: start, graceCut: graceCut}
	if err := s.narinfos(ctx); err != nil {
		return rep, err
	}
	if err := s.files(ctx); err != nil {
		return rep, err
	}
	rep.Kept = g.kept()
	rep.Duration = time.Since(start)
	return rep, nil
}

func (g *graph) present() (n int) {
	for _, f := range g.flags {
		if f&fPresent != 0 {
			n++
		}
	}
	return n
}

func (g *graph) kept() (n int) {
	for _, f := range g.flags {
		if f&fKept != 0 {
			n++
		}
	}
	return n
}

// load streams the bucket's index into a graph, sized beforehand from
// the index's count.
func (c *Collector) load(ctx context.Context, bucket string) (*graph, error) {
	st, err := c.Meta.CacheStats(ctx, bucket)
	if err != nil {
		return nil, err
	}
	paths := int(min(st.Paths, 1<<28))
	g := newGraph(paths, paths*refsPerPath)
	after := ""
	for {
		began := time.Now()
		page, err := c.Meta.ScanNarinfoEdges(ctx, bucket, after, scanPage)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			return g, nil
		}
		for _, e := range page {
			if err := g.add(e); err != nil {
				return nil, fmt.Errorf("collect %s: %w", bucket, err)
			}
		}
		after = page[len(page)-1].Hash
		c.progress("reading the index", g.len(), 0)
		if err := c.rest(ctx, began); err != nil {
			return nil, err
		}
	}
}

// objectKind classifies the keys the collector manages.
type objectKind int

const (
	otherObject objectKind = iota
	narinfoObject
	listingObject
	narObject
	logObject
	auxObject // a debuginfo entry or realisation (cacheaux), known once read
)

func kindOf(k string) (objectKind, string) {
	switch {
	case strings.HasPrefix(k, "nar/"):
		return narObject, ""
	case strings.HasPrefix(k, "log/"):
		return logObject, ""
	}
	if h := keyHash(k, ".narinfo"); h != "" {
		return narinfoObject, h
	}
	if h := keyHash(k, ".ls"); h != "" {
		return listingObject, h
	}
	return otherObject, ""
}

// scanObjects calls fn with each page of the bucket's objects.
func (c *Collector) scanObjects(ctx context.Context, bucket, phase string, fn func([]meta.Object) error) error {
	after, seen := "", 0
	for {
		began := time.Now()
		page, err := c.Meta.ScanObjects(ctx, meta.ScanQuery{Bucket: bucket, After: after, Limit: scanPage})
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		if err := fn(page); err != nil {
			return err
		}
		after = page[len(page)-1].Key
		seen += len(page)
		c.progress(phase, seen, 0)
		if err := c.rest(ctx, began); err != nil {
			return err
		}
	}
}

// rest sleeps Rest times as long as the work begun at began took, or
// yields when Rest is unset.
func (c *Collector) rest(ctx context.Context, began time.Time) error {
	if c.Rest <= 0 {
		runtime.Gosched()
		return ctx.Err()
	}
	t := time.NewTimer(time.Duration(float64(time.Since(began)) * c.Rest))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// measure sums what the bucket's narinfos, NARs, listings, logs,
// debuginfo entries and realisations hold, attributes narinfo, listing,
// log and pointing objects to their paths (a log to the path its
// derivation built, a debuginfo entry to the path whose NAR it names, a
// realisation to its output path), and sums the orphans older than
// graceCut. A path whose NAR is not stored (a pulled
// path whose NAR is still upstream) holds no NAR bytes: evicting it
// frees only its narinfo and listing.
func (c *Collector) measure(ctx context.Context, bucket string, g *graph, graceCut time.Time) (total, orphan int64, err error) {
	urls := g.keys(g.url, func(int32) bool { return true })
	var stored keySet // the objects that may be NARs, unsorted until the scan ends
	defer func() {
		if err != nil {
			return
		}
		slices.Sort(stored)
		for id := range int32(g.len()) {
			if g.is(id, fPresent) && g.url[id] != 0 && !stored.has(g.url[id]) {
				g.size[id] -= g.fileSize[id]
			}
		}
	}()
	if err := c.readAllAux(ctx, bucket, g); err != nil {
		return 0, 0, err
	}
	var debugs, logs []auxBytes // by the NAR or derivation they name, once sorted
	defer func() {
		if err == nil {
			orphan += g.attribute(debugs, g.url) + g.attribute(logs, g.deriver)
		}
	}()
	err = c.scanObjects(ctx, bucket, "measuring", func(objs []meta.Object) error {
		for _, o := range objs {
			kind, h := kindOf(o.Key)
			if kind == narObject || kind == otherObject {
				stored = append(stored, key(o.Key)) // a NAR, wherever its URL points
			}
			if kind == otherObject {
				a, err := c.readAux(ctx, bucket, g, o)
				if err != nil || a.Kind == 0 {
					return err
				}
				total += o.Size
				old := !o.Modified.After(graceCut)
				switch {
				case a.Target == "": // does not parse: stays, and holds its bytes
				case a.Kind == cacheaux.DebugInfo:
					debugs = append(debugs, auxBytes{nar: key(a.Target), size: o.Size, old: old})
				default:
					if id := g.lookup(a.Target); id >= 0 && g.is(id, fPresent) {
						g.size[id] += o.Size
					} else if old {
						orphan += o.Size
					}
				}
				continue
			}
			total += o.Size
			old := !o.Modified.After(graceCut)
			switch kind {
			case narinfoObject, listingObject:
				id := g.lookup(h)
				switch {
				case id >= 0 && g.is(id, fPresent):
					g.size[id] += o.Size
					if kind == narinfoObject {
						g.niSize[id] = int32(min(o.Size, 1<<31-1))
					}
				case kind == listingObject && old:
					orphan += o.Size
				}
			case narObject:
				if old && !urls.has(key(o.Key)) {
					orphan += o.Size
				}
			case logObject:
				logs = append(logs, auxBytes{nar: key(strings.TrimPrefix(o.Key, "log/")), size: o.Size, old: old})
			}
		}
		return nil
	})
	return total, orphan, err
}
