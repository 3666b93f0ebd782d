// Package server wires the storage, metadata, object core and protocol
// front ends into one http.Handler. The in-process tests (inproc_*_test.go)
// run exactly this, and so does `nixbucket serve`.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/binarycache"
	"github.com/nixbucket/nixbucket/internal/console"
	"github.com/nixbucket/nixbucket/internal/cors"
	"github.com/nixbucket/nixbucket/internal/diskspace"
	"github.com/nixbucket/nixbucket/internal/fastlane"
	"github.com/nixbucket/nixbucket/internal/forwarded"
	"github.com/nixbucket/nixbucket/internal/jobs"
	"github.com/nixbucket/nixbucket/internal/lifecycle"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/backend"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/observe"
	"github.com/nixbucket/nixbucket/internal/pullthrough"
	"github.com/nixbucket/nixbucket/internal/s3api"
	"github.com/nixbucket/nixbucket/internal/sigv4"
	"github.com/nixbucket/nixbucket/internal/stall"
	"github.com/nixbucket/nixbucket/internal/storage/blobcache"
	"github.com/nixbucket/nixbucket/internal/storage/s3store"
	"github.com/nixbucket/nixbucket/internal/traffic"
)

// Options configure a Server. Only Data is required.
type Options struct {
	Data         string // data directory: blobs/ and meta.db live here
	Meta         string // metadata store URL (postgres://…); empty: meta.db in Data
	Region       string // default us-east-1
	Domain       string // enables virtual-host addressing BUCKET.Domain
	StrictRegion bool
	Account      string // account id in ARNs; default 000000000000
	Log          *slog.Logger
	Scheme       string // "https" when served over TLS; default "http" (see URL)
	// MinFree is the free space under which writes are refused (507);
	// the zero value is 1 GiB or 2 %, whichever is smaller.
	MinFree diskspace.MinFree
	// LifecycleInterval is the time between sweeps of lifecycle rules
	// (abandoned uploads, expired objects); zero or less: no sweeps.
	LifecycleInterval time.Duration
	// Blobs is the blob store's URL (s3://…), or "" for Data's blobs/
	// (see OpenBlobs).
	Blobs string
	// RedirectReads answers GETs of NARs stored as one blob in an S3 blob
	// store with a 307 to a presigned URL of the store.
	RedirectReads bool
	// BlobCacheSize bounds the local copies of hot blobs kept of an S3
	// blob store (internal/storage/blobcache), in BlobCache (default
	// Data/blobcache); zero or less: no cache. Local blobs have none.
	BlobCacheSize int64
	BlobCache     string
	// GCInterval is how often buckets with gc=on are collected; zero: never.
	GCInterval time.Duration
	// SweepInterval is how often a shared blob store (S3) is swept of
	// what dead writers left (see internal/jobs); zero: never. A local
	// blob store is swept at start instead.
	SweepInterval time.Duration
	// AccessLog, when set, gets one line per request (see
	// internal/observe), in slog's JSON format when LogJSON is set, else
	// its text format.
	AccessLog io.Writer
	LogJSON   bool
	// LogDropped, when set, counts the log lines dropped by the output
	// the server's lines go through (an observe.LogQueue), reported as
	// nixbucket_access_log_dropped_total instead of the access log's own
	// count, so that the drops are counted with the access log off too.
	LogDropped func() uint64
	// MetricsMaxBuckets is how many buckets get a label of their own in
	// the metrics (first seen first); zero: observe.DefaultMaxBuckets;
	// less: none.
	MetricsMaxBuckets int
	// MetricsElsewhere says the metrics are served on a listener of
	// their own (MetricsHandler): /-/metrics answers 404 here.
	MetricsElsewhere bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For and
	// X-Forwarded-Proto, or Forwarded, give a request's client address and
	// scheme (see internal/forwarded); nil: none.
	TrustedProxies *forwarded.Proxies
	// BackendTimeout bounds each wait of a request on the metadata or
	// blob store that makes no progress (a statement, an answer, the next
	// bytes of a body: see internal/stall); past it the request fails
	// with 503 naming the store. Zero: no bound. Requests get it from
	// BaseContext; background jobs never do.
	BackendTimeout time.Duration
}

// DefaultBackendTimeout is serve's --backend-timeout: a statement or a
// store's answer on a request's path takes milliseconds, and seconds
// without one are a paused, partitioned or locked backend, which a client
// is better told of (503, retry) than held by.
const DefaultBackendTimeout = 5 * time.Second

// Server is an open nixbucket instance.
type Server struct {
	// usageMu makes the refreshes of the per-bucket gauges run one after
	// another (RefreshUsage), as the bucket labels' bookkeeping requires.
	usageMu sync.Mutex
	opts    Options
	log     *slog.Logger
	meta    meta.Store
	objects *objects.Service
	access  *access.Service
	cache   *binarycache.Service
	handler http.Handler
	lock    *os.File
	blobs   BlobStore
	// blobCache keeps hot blobs of an S3 blob store on local disk; nil
	// when off. The object layer reads through it; blobs is the store.
	blobCache *blobcache.Cache
	space     *diskspace.Guard
	life      *lifecycle.Service
	traffic   *traffic.Counters // see console.go
	console   *console.Handler  // nil: the console is unavailable
	pull      *pullthrough.Service
	// redirect is the Redirector of Options.RedirectReads, or nil.
	redirect s3api.Redirector
	// The metrics and the access log (see observe.go).
	metrics   *observe.Metrics
	accessLog *observe.AccessLog
	observer  *observe.Observer
	opBase    int // the index of the first of serverOps
	// Root is the admin access key; FirstStart says it was just created.
	Root       meta.AccessKey
	FirstStart bool
}

// Open opens (creating if needed) the data directory, sweeps what a crash
// may have left, and makes sure admin credentials exist.
func Open(ctx context.Context, opts Options) (*Server, error) {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	abs, err := filepath.Abs(opts.Data)
	if err != nil {
		return nil, err
	}
	opts.Data = abs
	if err := os.MkdirAll(opts.Data, 0o700); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("cannot create the data directory %s (%w): give --data a directory this user (%s) may create, such as ~/nixbucket-data, or run nixbucket as a user who may", opts.Data, err, whoami())
		}
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	if err := checkDataDir(opts.Data, log); err != nil {
		return nil, err
	}
	lock, err := lockData(opts.Data)
	if err != nil {
		return nil, err
	}
	space, blobs, store, err := openStores(ctx, opts, log)
	if err != nil {
		lock.Close()
		return nil, err
	}
	// Before the sweep below: with the source's blobs (migrate without
	// --to-blobs), it would take the blobs not copied yet for garbage.
	if err := checkMigrated(ctx, store); err != nil {
		blobs.Close()
		store.Close()
		lock.Close()
		return nil, err
	}
	s := &Server{opts: opts, log: log, meta: store, lock: lock, blobs: blobs, space: space}
	objBlobs, err := s.openBlobCache(blobs)
	if err != nil {
		blobs.Close()
		store.Close()
		lock.Close()
		return nil, err
	}
	// On a store other servers write too, the in-memory answers follow
	// their changes (meta.ObjectWatcher), or are off.
	watch, _ := store.(meta.ObjectWatcher)
	s.objects = &objects.Service{Meta: store, Blobs: objBlobs, Log: log, Space: space,
		NoMemo: backend.SharedObjects(store) && watch == nil, Watch: watch, Changes: store}
	s.objects.Hook = &binarycache.Hook{Objects: s.objects, Keys: store}
	s.cache = &binarycache.Service{Store: store, Log: log}
	s.life = &lifecycle.Service{Store: store, Objects: s.objects, Log: log}
	if err := s.openPull(); err != nil {
		s.Close()
		return nil, err
	}
	if s.redirect, err = redirector(opts, blobs); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.sweepAtStart(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.settle(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.warnUnsigned(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.openObserve()
	s.metrics.CountUpstreams(s.pull.Stats)
	if l, ok := s.meta.(listenerState); ok {
		s.metrics.WatchMeta(l.ListenerState)
	}
	if s.blobCache != nil {
		s.metrics.Registry().MustRegister(s.blobCache.Collectors()...)
	}
	s.handler = s.routes()
	return s, nil
}

// exclusive is the ability of a metadata store shared by several servers
// (PostgreSQL: postgres.Store.Exclusive) to run a step on one server at a
// time.
type exclusive interface {
	Exclusive(ctx context.Context, name string, fn func() error) error
}

// settle makes sure of what every server on the store shares: the account
// id, the admin key and, on a first start, the default cache with its
// signing key. Each step reads the store, then creates what is missing;
// on a shared store the steps run under the store's lock, or servers
// starting at once on a new database would each create an admin key and
// race to add the cache's first signing key (the loser failing to start).
// An SQLite store serves one server (the data directory is locked).
func (s *Server) settle(ctx context.Context) error {
	steps := func() error {
		if err := s.ensureAccount(ctx); err != nil {
			return err
		}
		if err := s.ensureRoot(ctx); err != nil {
			return err
		}
		if err := s.recordBlobStore(ctx); err != nil {
			return err
		}
		return s.ensureDefaultCache(ctx)
	}
	if x, ok := s.meta.(exclusive); ok {
		return x.Exclusive(ctx, "first-start", steps)
	}
	return steps()
}

// ensureAccount settles the account id in ARNs: the option when given
// (and then remembered, for the admin commands), else the stored one,
// else access.DefaultAccount.
func (s *Server) ensureAccount(ctx context.Context) error {
	if s.opts.Account != "" {
		if len(s.opts.Account) != 12 || strings.Trim(s.opts.Account, "0123456789") != "" {
			return fmt.Errorf("account id %q: must be 12 digits", s.opts.Account)
		}
		return s.meta.SetSetting(ctx, "account", s.opts.Account)
	}
	a, err := s.meta.Setting(ctx, "account")
	if err != nil {
		return fmt.Errorf("reading the account id: %w", err)
	}
	s.opts.Account = a
	return nil
}

// BlobStoreSetting is the setting where a server records its --blobs, so
// that an admin command given only --meta finds the blobs the objects of
// the store are in (an S3 store's URL holds no secret: credentials come
// from the AWS default chain).
const BlobStoreSetting = "blobs"

// recordBlobStore records the server's --blobs in the store, when it
// changed.
func (s *Server) recordBlobStore(ctx context.Context) error {
	cur, err := s.meta.Setting(ctx, BlobStoreSetting)
	if err != nil {
		return fmt.Errorf("reading the blob store setting: %w", err)
	}
	if s.opts.Blobs == "" && s.opts.Meta != "" {
		if err := s.claimLocalBlobs(ctx); err != nil {
			return err
		}
	}
	if cur == s.opts.Blobs || s3store.SameStore(cur, s.opts.Blobs) {
		return nil // kept as the first server spelled it
	}
	// Servers sharing a metadata store must share one blob store: one
	// started with another --blobs (a typo, a node left on local blobs)
	// cannot read what the others wrote, and moves the admin commands
	// (gc, verify --repair, bucket delete --force) to its store. It may
	// also be a deliberate move (the store's URL changed), so say it
	// loudly rather than refuse.
	if held, err := s.holdsObjects(ctx); cur != "" || (err == nil && held) {
		s.log.Warn("this server's blob store is not the one recorded by the servers before it on this metadata store: "+
			"every server on one metadata store needs the same --blobs (unless the blobs were moved), or objects written through the others are missing here; "+
			"admin commands given only --meta now use this server's",
			"recorded", orLocal(cur), "this", orLocal(s.opts.Blobs))
	}
	return s.meta.SetSetting(ctx, BlobStoreSetting, s.opts.Blobs)
}

// holdsObjects reports whether any bucket of the store holds bytes.
func (s *Server) holdsObjects(ctx context.Context) (bool, error) {
	u, ok := s.meta.(meta.Usages)
	if !ok {
		return false, nil
	}
	us, err := u.Usage(ctx)
	if err != nil {
		return false, err
	}
	for _, b := range us {
		if b.Bytes > 0 {
			return true, nil
		}
	}
	return false, nil
}

// orLocal names a --blobs setting for a log line.
func orLocal(spec string) string {
	if spec == "" {
		return "local (a data directory's blobs/)"
	}
	return spec
}

// Handler is the server's HTTP handler. The http.Server serving it sets
// BaseContext to the Server's, so that its requests' waits on the
// backends are bounded.
func (s *Server) Handler() http.Handler { return s.handler }

// BaseContext is the base of the contexts of the requests Handler serves
// (http.Server.BaseContext): it carries Options.BackendTimeout
// (internal/stall), at no cost per request.
func (s *Server) BaseContext(net.Listener) context.Context {
	return stall.WithBound(context.Background(), s.opts.BackendTimeout)
}

// Run does the server's background work until ctx ends, and returns
// once it has stopped: the disk-space watch and the batched writes of
// narinfo access times, which are this node's own, and the jobs that
// scan or change the whole store (lifecycle sweeps, scheduled garbage
// collection, sweeping a shared blob store), which run on whichever node
// holds their job lock (see internal/jobs).
func (s *Server) Run(ctx context.Context) {
	go s.space.Watch(ctx)
	runner := &jobs.Runner{Locks: s.meta, Log: s.log, Held: s.metrics.JobHeld}
	var wg sync.WaitGroup
	for _, j := range s.backgroundJobs() {
		wg.Go(func() { runner.Run(ctx, j) })
	}
	wg.Go(func() { s.runTraffic(ctx) })
	wg.Go(func() { s.refreshUsage(ctx) })
	s.cache.Run(ctx)
	wg.Wait()
}

// backgroundJobs lists the jobs of internal/jobs; those whose interval
// is zero do not run.
func (s *Server) backgroundJobs() []jobs.Job {
	js := []jobs.Job{
		{Name: "lifecycle", Every: s.opts.LifecycleInterval, Run: func(ctx context.Context) error {
			rep, err := s.life.Sweep(ctx)
			s.metrics.Lifecycle(int64(rep.ObjectsExpired), int64(rep.UploadsAborted), rep.ObjectBytes+rep.UploadBytes)
			if rep.ObjectsExpired+rep.UploadsAborted > 0 {
				s.refreshAfterRemoval(ctx)
			}
			return err
		}},
		{Name: "gc", Every: s.opts.GCInterval, Run: s.collectAll},
	}
	if shared, ok := s.blobs.(sharedBlobs); ok {
		js = append(js, jobs.Job{Name: "sweep", Every: s.opts.SweepInterval, Run: func(ctx context.Context) error {
			return s.sweepShared(ctx, shared, time.Now())
		}})
	}
	return js
}

// Close writes out the access log, closes the metadata store and releases
// the data directory.
func (s *Server) Close() error {
	if s.accessLog != nil {
		// A blocked log output must not hang the shutdown.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.accessLog.Close(ctx); err != nil {
			s.log.Warn("access log: lines not written out at shutdown", "err", err)
		}
		cancel()
	}
	s.cache.Flush(context.Background())
	s.closeBlobs()
	err := s.meta.Close()
	s.lock.Close()
	return err
}

func (s *Server) routes() http.Handler {
	s.access = access.New(s.meta, access.Options{Account: s.opts.Account, Log: s.log})
	verifier := &sigv4.Verifier{
		Lookup:       s.secret,
		Region:       s.opts.Region,
		StrictRegion: s.opts.StrictRegion,
		Domain:       s.opts.Domain,
	}
	api := &s3api.Handler{
		Objects:  s.objects,
		Verifier: verifier,
		Access:   s.access,
		Nix:      s.cache,
		Region:   s.opts.Region,
		Domain:   s.opts.Domain,
		Log:      s.log,
		Refused:  s.refused((&authLog{log: s.log, meta: s.meta}).refused),
		// Tests make every completion that passes its checks a slow one.
		CompleteQuiet: completeQuiet,
	}
	api.Unavailable = s.unavailable
	api.Lifecycle = s.life
	api.Redirect = s.redirect
	api.Pull = s.pull
	if st, ok := s.meta.(cors.Store); ok {
		api.CORS = &cors.Service{Store: st}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /-/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /-/ready", s.serveReady)
	mux.HandleFunc("GET /-/keys/{bucket}", s.serveKeys(api))
	mux.HandleFunc("GET "+MetricsPath, s.serveMetrics(api))
	s.pinsAPI(mux, api)
	s.consoleRoutes(mux)
	// S3 keys may hold "//" or "..", which ServeMux would clean and
	// redirect, so only the /-/ namespace (no valid bucket name starts
	// with "-") goes through the mux.
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/-/") && !s.virtualHost(r) {
			s.endpointOp(w, r.URL.Path)
			mux.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
	s.observer.Traffic = s.traffic.RecordClaim
	if s.opts.TrustedProxies == nil {
		// Anonymous misses may be given again by the fast lane (see
		// s3api's replay.go). Not behind trusted proxies: a repeat is
		// logged with its connection's address, which they rewrite.
		api.Replays = true
		s.observer.NewID = s3api.RequestID
		s.observer.Offer = func(r *http.Request, id string, p *observe.Replay) { fastlane.Offer(r, id, p) }
		s.observer.Wanted = fastlane.Wanted
	}
	return boundBodies(s.opts.TrustedProxies.Wrap(s.observer.Wrap(h)))
}

// virtualHost reports whether r names its bucket in the Host header
// (BUCKET.DOMAIN with --domain): its whole path is then a key, and a key
// may start with "-/".
func (s *Server) virtualHost(r *http.Request) bool {
	_, ok := sigv4.VirtualHostBucket(r.Host, s.opts.Domain)
	return ok
}

// refused counts a failed authentication in the metrics, then logs it.
func (s *Server) refused(log func(*http.Request, error)) func(*http.Request, error) {
	return func(r *http.Request, err error) {
		s.metrics.AuthFailure(authFailureReason(err))
		log(r, err)
	}
}

// secret looks up a signing key's secret for sigv4.
func (s *Server) secret(ctx context.Context, id string) (string, error) {
	secret, err := s.access.Secret(ctx, id)
	if errors.Is(err, access.ErrBadCredentials) {
		return "", fmt.Errorf("%w: %v", sigv4.ErrUnknownKey, err)
	}
	return secret, err
}
