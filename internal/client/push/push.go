// Package push copies closures from the local Nix store into a binary
// cache, as `nix copy --to` does, but streaming and concurrent: each NAR is
// dumped from the file system, hashed, checked against the Nix database,
// compressed (in parallel for large ones) and hashed again in one pass,
// and uploaded; only compressed NARs wait for their upload whole, in a
// bounded memory budget or a temporary file. Up to Jobs paths are in
// flight at once, Compressors of them compressing; and each narinfo is
// written only after its NAR and after the narinfos of all its
// references, so a cache never holds a narinfo whose closure is
// incomplete.
package push

import (
	"context"
	"errors"
	"fmt"
	"path"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/nixbucket/nixbucket/internal/client/localstore"
	"github.com/nixbucket/nixbucket/internal/client/spool"
	"github.com/nixbucket/nixbucket/internal/client/storeurl"
	"github.com/nixbucket/nixbucket/internal/client/target"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

// Options configure a Pusher.
type Options struct {
	Store  *localstore.Store
	Target target.Target
	URL    *storeurl.Store // compression and listing settings
	Keys   []signature.SecretKey
	Jobs   int // paths in flight at once; default 8
	// Compressors is how many of the Jobs paths may dump and compress
	// their NARs at once (default GOMAXPROCS: that part is CPU-bound);
	// the others upload, or wait. More would only interleave the same CPU
	// work, and hold back every path's upload until late in the push.
	Compressors int
	// TmpDir is where compressed NARs not kept in memory wait for their
	// upload; "" for os.TempDir().
	TmpDir string
	// MemLimit is the largest NAR, compressed, that may wait for its
	// upload in memory rather than in a temporary file (writing the file
	// and sending it cost about twice the CPU); default 32 MiB. A NAR
	// qualifies when its size bound after compression (its NarSize plus
	// framing) is at most MemLimit.
	MemLimit int
	// MemBudget is the memory that all the NARs kept in memory share at
	// once (default 96 MiB), in recycled chunks: it bounds the push's
	// memory whatever the NARs' sizes and Jobs. A NAR that finds it spent
	// goes on in a temporary file.
	MemBudget int64
	// OnPlan, if not nil, is called once the closure is known and the
	// cache has been asked which paths it has.
	OnPlan func(Plan)
	// OnPath, if not nil, is called once per path of the closure when it is
	// settled; calls do not overlap.
	OnPath func(Result)
}

// Plan is what a push will do.
type Plan struct {
	Paths    int   // the whole closure
	Skipped  int   // already in the cache
	ToPush   int   // the rest
	NarBytes int64 // NAR bytes of the paths to push
}

// Status is the outcome for one path.
type Status string

// Statuses.
const (
	Pushed  Status = "pushed"
	Skipped Status = "skipped" // the cache already had its narinfo
	Failed  Status = "failed"
)

// Result is the outcome for one path.
type Result struct {
	Path        string
	Status      Status
	NarSize     int64
	FileSize    int64  // pushed: the compressed file's size
	URL         string // pushed: the NAR file's key
	Compression string
	Reused      bool // pushed: the NAR file was already in the cache, only the narinfo was written
	Duration    time.Duration
	Err         error // failed: why
	// Aborted: the push stopped at a target.Failure (this path's, or
	// another's), or was cancelled (Ctrl-C), before this path could
	// finish; Run's error says why, so there is no need to repeat it for
	// every path in flight.
	Aborted bool
}

// Summary totals a push.
type Summary struct {
	Paths, Pushed, Skipped, Failed int
	NarBytes, FileBytes            int64 // of pushed paths
	Uploaded                       int64 // NAR file bytes sent (not counting reused files, narinfos and listings)
	Duration                       time.Duration
}

// Progress is a snapshot of a push in flight.
type Progress struct {
	Plan     Plan
	Done     int   // paths settled (pushed or failed) of Plan.ToPush
	NarBytes int64 // NAR bytes dumped so far
	Uploaded int64 // compressed bytes sent so far
	Elapsed  time.Duration
}

// Pusher pushes closures. Its Progress may be read while Run runs.
type Pusher struct {
	o     Options
	start time.Time
	mem   *spool.Budget // for compressed NARs waiting to be uploaded

	compressors chan struct{} // a slot per NAR being dumped and compressed

	plan     atomic.Pointer[Plan]
	done     atomic.Int64
	narBytes atomic.Int64
	uploaded atomic.Int64

	mu      sync.Mutex // serialises OnPath and guards summary
	summary Summary

	stop stopper // ends the run at the first target.Failure
}

// New returns a Pusher.
func New(o Options) *Pusher {
	if o.Jobs <= 0 {
		o.Jobs = 8
	}
	if o.Compressors <= 0 {
		o.Compressors = runtime.GOMAXPROCS(0)
	}
	if o.MemLimit <= 0 {
		o.MemLimit = 32 << 20
	}
	if o.MemBudget <= 0 {
		o.MemBudget = 96 << 20
	}
	return &Pusher{o: o, mem: spool.NewBudget(o.MemBudget), compressors: make(chan struct{}, o.Compressors)}
}

// Progress returns a snapshot of the push.
func (p *Pusher) Progress() Progress {
	var plan Plan
	if pl := p.plan.Load(); pl != nil {
		plan = *pl
	}
	var elapsed time.Duration
	if !p.start.IsZero() {
		elapsed = time.Since(p.start)
	}
	return Progress{Plan: plan, Done: int(p.done.Load()), NarBytes: p.narBytes.Load(), Uploaded: p.uploaded.Load(), Elapsed: elapsed}
}

// node is one path of the closure being pushed.
type node struct {
	info   *localstore.PathInfo
	refs   []*node // references other than itself
	done   chan struct{}
	failed atomic.Bool // set before done is closed
}

// ErrFailed is returned by Run when some paths could not be pushed; their
// Results carry the reasons.
var ErrFailed = errors.New("some paths were not pushed")

// Run pushes the closures of roots (store paths). It returns the summary
// and ErrFailed if any path failed, or another error if the push could not
// start (the closure or the cache could not be read) or ctx ended. A
// target.Failure (credentials, a policy's denial, a missing bucket) stops
// the whole run at once and is returned as it is.
func (p *Pusher) Run(parent context.Context, roots []string) (Summary, error) {
	p.start = time.Now()
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	p.stop.cancel = cancel
	infos, err := p.o.Store.Closure(ctx, roots)
	if err != nil {
		return Summary{}, err
	}
	if err := checkCacheInfo(ctx, p.o.Target, p.o.URL, p.o.Store.Dir()); err != nil {
		return Summary{}, bare(err)
	}
	have, err := p.query(ctx, infos)
	if err != nil {
		return Summary{}, bare(err)
	}

	nodes := make(map[string]*node, len(infos))
	var todo []*node
	plan := Plan{Paths: len(infos)}
	for _, info := range infos { // references first
		n := &node{info: info, done: make(chan struct{})}
		for _, r := range info.References {
			if r != info.Path {
				n.refs = append(n.refs, nodes[r])
			}
		}
		nodes[info.Path] = n
		if have[info.Path] {
			close(n.done)
			plan.Skipped++
			p.report(Result{Path: info.Path, Status: Skipped, NarSize: info.NarSize})
			continue
		}
		todo = append(todo, n)
		plan.NarBytes += info.NarSize
	}
	plan.ToPush = len(todo)
	p.plan.Store(&plan)
	if p.o.OnPlan != nil {
		p.o.OnPlan(plan)
	}

	jobs := make(chan struct{}, p.o.Jobs)       // NAR dumps and uploads in flight
	narinfos := make(chan struct{}, 2*p.o.Jobs) // narinfo uploads in flight
	var wg sync.WaitGroup
dispatch:
	for _, n := range todo { // in topological order, so a job never waits for a later one
		select {
		case jobs <- struct{}{}:
		case <-ctx.Done():
			break dispatch
		}
		if ctx.Err() != nil { // select picks at random when both were ready
			<-jobs
			break dispatch
		}
		wg.Go(func() { p.pushPath(ctx, n, jobs, narinfos) })
	}
	wg.Wait()
	s := p.finish()
	if f := p.stop.stopped(); f != nil {
		return s, f
	}
	if err := parent.Err(); err != nil {
		return s, err
	}
	if s.Failed > 0 {
		return s, ErrFailed
	}
	return s, nil
}

// query asks the cache which paths it already has (their narinfo exists),
// with more requests in flight than jobs, since each is small.
func (p *Pusher) query(ctx context.Context, infos []*localstore.PathInfo) (map[string]bool, error) {
	have := make([]bool, len(infos))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(16, 2*p.o.Jobs))
	for i, info := range infos {
		g.Go(func() error {
			_, err := p.o.Target.Stat(gctx, narinfoKey(info.Path))
			switch {
			case err == nil:
				have[i] = true
			case !errors.Is(err, target.ErrNotFound):
				return fmt.Errorf("asking %s for %s: %w", p.o.Target, narinfoKey(info.Path), err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	m := make(map[string]bool, len(infos))
	for i, info := range infos {
		m[info.Path] = have[i]
	}
	return m, nil
}

// pushPath uploads one path's NAR (holding a jobs slot), then waits for
// its references and writes its narinfo.
func (p *Pusher) pushPath(ctx context.Context, n *node, jobs, narinfos chan struct{}) {
	start := time.Now()
	res := Result{Path: n.info.Path, NarSize: n.info.NarSize, Compression: p.o.URL.Compression}
	fail := func(err error) {
		res.Status, res.Err, res.Duration = Failed, err, time.Since(start)
		res.Aborted = p.stop.check(err) || ctx.Err() != nil
		n.failed.Store(true)
		close(n.done)
		p.done.Add(1)
		p.report(res)
	}
	var nar *narFile
	err := func() error {
		defer func() { <-jobs }()
		if r := failedRef(n); r != nil {
			return fmt.Errorf("not pushed: its reference %s failed", r.info.Path)
		}
		var err error
		nar, err = p.uploadNAR(ctx, n.info)
		if err != nil {
			// Stop the run before the slot frees: else the next path's
			// upload can start (and fail the same way) first.
			p.stop.check(err)
		}
		return err
	}()
	if err != nil {
		fail(err)
		return
	}
	for _, r := range n.refs {
		select {
		case <-r.done:
		case <-ctx.Done():
			fail(ctx.Err())
			return
		}
	}
	if r := failedRef(n); r != nil {
		fail(fmt.Errorf("narinfo not written: its reference %s failed", r.info.Path))
		return
	}
	select {
	case narinfos <- struct{}{}:
	case <-ctx.Done():
		fail(ctx.Err())
		return
	}
	err = p.putNarinfo(ctx, n.info, nar)
	<-narinfos
	if err != nil && nar.reused && p.narGone(ctx, nar) {
		// The cache had the NAR when we looked and dropped it before the
		// narinfo (a garbage collection in between): send it, and the
		// narinfo again, as a second run would.
		if nar, err = p.uploadNAR(ctx, n.info); err == nil {
			err = p.putNarinfo(ctx, n.info, nar)
		}
	}
	if err != nil {
		fail(err)
		return
	}
	res.Status, res.FileSize, res.URL, res.Reused, res.Duration = Pushed, nar.size, nar.key, nar.reused, time.Since(start)
	close(n.done)
	p.done.Add(1)
	p.report(res)
}

// failedRef returns a reference of n that failed, if any has so far.
func failedRef(n *node) *node {
	for _, r := range n.refs {
		if r.failed.Load() {
			return r
		}
	}
	return nil
}

// report records a result and passes it on.
func (p *Pusher) report(r Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.summary.Paths++
	switch r.Status {
	case Pushed:
		p.summary.Pushed++
		p.summary.NarBytes += r.NarSize
		p.summary.FileBytes += r.FileSize
	case Skipped:
		p.summary.Skipped++
	case Failed:
		p.summary.Failed++
	}
	if p.o.OnPath != nil {
		p.o.OnPath(r)
	}
}

func (p *Pusher) finish() Summary {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.summary
	if pl := p.plan.Load(); pl != nil {
		s.Paths = pl.Paths
	}
	s.Uploaded = p.uploaded.Load()
	s.Duration = time.Since(p.start)
	return s
}

// narinfoKey returns the key of a store path's narinfo: <hash>.narinfo.
func narinfoKey(storePath string) string {
	return path.Base(storePath)[:32] + ".narinfo"
}
