package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
	"github.com/nixbucket/nixbucket/internal/nix/storepath"
)

// Defaults for Config's zero fields.
const (
	DefaultNegativeTTL = time.Hour
	DefaultMaxConns    = 16
	// maxNegative bounds the negative cache; past it, the cache is
	// emptied (a burst of misses costs a refetch, never memory).
	maxNegative = 1 << 18
	// DownFor is how long a source that failed (refused, timed out,
	// answered 429, 503 or 504) is skipped by Narinfo: during an outage
	// each narinfo miss then answers at once instead of waiting out the
	// timeouts. Other error answers (a 500 for one file) do not count.
	DownFor = 5 * time.Second
	// DefaultNarinfoTimeout bounds the wait for each source's answer to a
	// narinfo request: Nix waits for it, and an upstream that accepts
	// connections but does not answer must cost it a few seconds, not
	// the source's first-byte timeout, which NAR downloads keep.
	DefaultNarinfoTimeout = 3 * time.Second
)

// Config configures a Fetcher.
type Config struct {
	// Sources in priority order: the first that has a path wins.
	Sources []Source
	// TrustedKeys are the keys a narinfo must be signed by.
	TrustedKeys []signature.PublicKey
	// TrustAny accepts unsigned narinfos and any signature (NARs are still
	// checked against their narinfo).
	TrustAny bool
	// NegativeTTL is how long a path no source has is remembered as
	// missing; 0 means DefaultNegativeTTL, < 0 disables the cache.
	NegativeTTL time.Duration
	// MaxConns bounds the requests in flight to each source; 0 means
	// DefaultMaxConns.
	MaxConns int
	// NarinfoTimeout bounds the wait for a source's answer (response
	// headers) to a narinfo request, after which the source counts as
	// failed and is skipped for DownFor; 0 means DefaultNarinfoTimeout.
	// Other requests keep the source's own timeouts (Timeouts).
	NarinfoTimeout time.Duration
	// Logger receives upstream errors and mismatches; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Fetcher fetches and verifies narinfos and NARs from an ordered list of
// sources. It is safe for concurrent use.
type Fetcher struct {
	sources  []*source
	keys     []signature.PublicKey
	trustAny bool
	negTTL   time.Duration
	niWait   time.Duration // NarinfoTimeout
	log      *slog.Logger
	now      func() time.Time

	negMu sync.Mutex
	neg   map[string]time.Time // hash → expiry

	narMu sync.Mutex
	nars  map[string]*Download // source name + "\x00" + URL → download in flight
}

// source is a Source with its connection limits, counters, and the time
// until which it is taken for down (unix nanoseconds). Narinfo requests
// have slots of their own (niSem), apart from NAR downloads and other
// files (sem): a substituter waits on each lookup, and a lookup that
// queued behind MaxConns long downloads would stall it (up to
// NarinfoTimeout, then the source would be taken for down).
type source struct {
	src       Source
	sem       chan struct{}
	niSem     chan struct{}
	counters  counters
	downUntil atomic.Int64
}

// down reports whether s failed less than DownFor ago.
func (f *Fetcher) down(s *source) bool {
	return f.now().UnixNano() < s.downUntil.Load()
}

// failed marks s down for DownFor after err, unless the failure was the
// caller's (its context ended) or the upstream answered it promptly with
// an error status: skipping a source saves waiting out its timeouts, and
// a 500 for one file costs none, while the 404s that skipping answers for
// every other path are remembered by Nix for an hour.
func (f *Fetcher) failed(ctx context.Context, s *source, err error) {
	if ctx.Err() == nil && !answered(err) {
		s.downUntil.Store(f.now().Add(DownFor).UnixNano())
	}
}

// New makes a Fetcher. It contacts nothing.
func New(cfg Config) *Fetcher {
	if cfg.NegativeTTL == 0 {
		cfg.NegativeTTL = DefaultNegativeTTL
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NarinfoTimeout <= 0 {
		cfg.NarinfoTimeout = DefaultNarinfoTimeout
	}
	f := &Fetcher{
		keys: cfg.TrustedKeys, trustAny: cfg.TrustAny, negTTL: cfg.NegativeTTL, niWait: cfg.NarinfoTimeout,
		log: cfg.Logger, now: time.Now,
		neg: map[string]time.Time{}, nars: map[string]*Download{},
	}
	for _, s := range cfg.Sources {
		f.sources = append(f.sources, &source{src: s, sem: make(chan struct{}, cfg.MaxConns), niSem: make(chan struct{}, cfg.MaxConns)})
	}
	return f
}

// Sources returns the names of the fetcher's sources, in priority order.
func (f *Fetcher) Sources() []string {
	names := make([]string, len(f.sources))
	for i, s := range f.sources {
		names[i] = s.src.Name()
	}
	return names
}

// open opens key on s within s's connection limit (its narinfo slots
// for a narinfo, else its file slots). The slot is held until the body is
// closed. It counts the request and its outcome. A firstByte > 0 bounds
// the wait for the source's answer (after the slot is had): past it the
// request is canceled and fails as unavailable, and the source is taken
// for down.
func (f *Fetcher) open(ctx context.Context, s *source, key string, rng *Range, firstByte time.Duration) (io.ReadCloser, int64, error) {
	sem := s.sem
	if strings.HasSuffix(key, ".narinfo") {
		sem = s.niSem
	}
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, 0, unavailable(s.src.Name(), fmt.Errorf("waiting for a connection slot: %w", ctx.Err()))
	}
	s.counters.fetches.Add(1)
	octx, cancel := context.WithCancel(ctx)
	var timer *time.Timer
	if firstByte > 0 {
		timer = time.AfterFunc(firstByte, cancel)
	}
	body, size, err := s.src.Open(octx, key, rng)
	// Once the answer is in, the body is the idle timer's to bound. A
	// timer that fired (Stop fails) has canceled the request, whatever
	// Open returned.
	timedOut := timer != nil && !timer.Stop()
	if err == nil && timedOut {
		body.Close()
	}
	if err != nil || timedOut {
		cancel()
		<-sem
		switch {
		case timedOut && ctx.Err() == nil:
			err = unavailable(s.src.Name(), fmt.Errorf("GET %s: no answer within %s", key, firstByte))
		case timedOut:
			err = unavailable(s.src.Name(), ctx.Err())
		}
		if errors.Is(err, ErrNotFound) {
			s.counters.notFound.Add(1)
		} else {
			s.counters.errors.Add(1)
			f.failed(ctx, s, err)
			f.log.Warn("upstream request failed", "upstream", s.src.Name(), "key", key, "err", err)
		}
		return nil, 0, err
	}
	return &countedBody{body: body, s: s, sem: sem, f: f, key: key, cancel: cancel}, size, nil
}

// countedBody counts a body's bytes and errors and frees its connection
// slot when closed.
type countedBody struct {
	body   io.ReadCloser
	s      *source
	sem    chan struct{} // where its slot is
	f      *Fetcher
	key    string
	cancel context.CancelFunc // the request's
	failed bool
	once   sync.Once
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	b.s.counters.bytes.Add(uint64(n))
	if err != nil && err != io.EOF && !b.failed {
		b.failed = true
		b.s.counters.errors.Add(1)
		b.f.log.Warn("upstream body failed", "upstream", b.s.src.Name(), "key", b.key, "err", err)
	}
	return n, err
}

func (b *countedBody) Close() error {
	err := b.body.Close()
	b.once.Do(func() { b.cancel(); <-b.sem })
	return err
}

// Narinfo is a narinfo an upstream served and the Fetcher accepted.
type Narinfo struct {
	Info   *narinfo.NarInfo // parsed and validated
	Raw    []byte           // the bytes as served
	Source string           // the Name of the source that served it
	// ByCA: accepted for its content address alone (see selfAddressed),
	// with no signature by a trusted key.
	ByCA bool
}

// selfAddressed reports whether ni is a content-addressed path that Nix
// accepts without a signature: its StorePath is the one its CA and
// References make. For a recursive sha256 address, the address is the
// NAR's hash, so NarHash must be it too (and the download checks the NAR
// against NarHash); the other kinds address the content inside the NAR,
// which the client checks as it adds the path.
func selfAddressed(ni *narinfo.NarInfo) bool {
	if !ni.CAPathMatches() {
		return false
	}
	if h, ok := strings.CutPrefix(ni.CA, "fixed:r:"); ok {
		want, err := nixhash.ParseSHA256(h)
		got, err2 := nixhash.ParseSHA256(ni.NarHash)
		return err == nil && err2 == nil && want == got
	}
	return true
}

// Narinfo returns the narinfo of the store path whose hash part is hash,
// from the first source (in priority order) that has one it accepts:
// well-formed, for that hash, and signed by a trusted key unless TrustAny.
// A narinfo a source serves but the Fetcher refuses counts as that
// source's miss. When no source has the path the error matches
// ErrNotFound and the miss is remembered for NegativeTTL; when a source
// failed and none had it, the error matches ErrUnavailable and nothing is
// remembered, since the failed source may have it. A source that failed
// less than DownFor ago is skipped (and counts as failed), so an outage
// costs one timeout, not one per request.
func (f *Fetcher) Narinfo(ctx context.Context, hash string) (*Narinfo, error) {
	if storepath.ValidateHash(hash) != nil {
		return nil, fmt.Errorf("narinfo %q: not a store path hash: %w", hash, ErrNotFound)
	}
	if f.negative(hash) {
		return nil, fmt.Errorf("narinfo %s: %w (cached)", hash, ErrNotFound)
	}
	var failed error
	for _, s := range f.sources {
		if f.down(s) {
			if failed == nil {
				failed = unavailable(s.src.Name(), errors.New("failed moments ago: skipped"))
			}
			continue
		}
		ni, err := f.narinfoFrom(ctx, s, hash)
		if err == nil {
			return ni, nil
		}
		if !errors.Is(err, ErrNotFound) && failed == nil {
			failed = err
		}
		if ctx.Err() != nil {
			return nil, unavailable(s.src.Name(), ctx.Err())
		}
	}
	if failed != nil {
		return nil, failed
	}
	f.remember(hash)
	return nil, fmt.Errorf("narinfo %s: %w", hash, ErrNotFound)
}

// narinfoFrom asks one source. The whole narinfo, answer and body, must
// come within twice the narinfo timeout, or the source is taken for down:
// an upstream that answers at once and then trickles the body would
// otherwise hold each lookup until the caller gives up (10 s for a
// pull-through bucket), never taken for down, its answers being prompt.
func (f *Fetcher) narinfoFrom(ctx context.Context, s *source, hash string) (*Narinfo, error) {
	rctx, cancel := context.WithTimeout(ctx, 2*f.niWait)
	defer cancel()
	body, _, err := f.open(rctx, s, hash+".narinfo", nil, f.niWait)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	raw, err := io.ReadAll(io.LimitReader(body, narinfo.MaxSize+1))
	if err != nil {
		if rctx.Err() != nil && ctx.Err() == nil {
			err = unavailable(s.src.Name(), fmt.Errorf("GET %s.narinfo: not read within %s", hash, 2*f.niWait))
			f.failed(ctx, s, err)
		}
		return nil, err
	}
	refuse := func(why error) error {
		s.counters.untrusted.Add(1)
		f.log.Warn("upstream narinfo refused", "upstream", s.src.Name(), "hash", hash, "err", why)
		return fmt.Errorf("%s/%s.narinfo: %v: %w", s.src.Name(), hash, why, ErrNotFound)
	}
	ni, err := narinfo.Parse(raw)
	if err != nil {
		return nil, refuse(err)
	}
	if err := ni.Validate(); err != nil {
		return nil, refuse(err)
	}
	sp, err := storepath.Parse(ni.StorePath)
	if err != nil || sp.Hash() != hash {
		return nil, refuse(fmt.Errorf("StorePath %s is not the path asked for", ni.StorePath))
	}
	if ni.FileSize == 0 && ni.FileHash == "" && ni.Compression == "none" {
		// nix-serve and harmonia serve the NAR itself and leave these
		// out: the file is the NAR, so NarHash and NarSize check it (and
		// Nix 2.8, which wants FileHash, gets them in a pulled narinfo).
		ni.FileHash, ni.FileSize = ni.NarHash, ni.NarSize
	}
	if ni.FileSize == 0 || ni.FileHash == "" {
		// Without them the NAR file cannot be checked before it is kept.
		return nil, refuse(errors.New("no FileSize or FileHash"))
	}
	if err := checkNARURL(ni.URL); err != nil {
		return nil, refuse(err)
	}
	byCA := false
	if !f.trustAny && !ni.Verify(f.keys...) {
		if !selfAddressed(ni) {
			return nil, refuse(errors.New("no signature by a trusted key"))
		}
		byCA = true
	}
	return &Narinfo{Info: ni, Raw: raw, Source: s.src.Name(), ByCA: byCA}, nil
}

// negative reports whether hash is a remembered miss.
func (f *Fetcher) negative(hash string) bool {
	if f.negTTL < 0 {
		return false
	}
	f.negMu.Lock()
	defer f.negMu.Unlock()
	exp, ok := f.neg[hash]
	if ok && f.now().After(exp) {
		delete(f.neg, hash)
		return false
	}
	return ok
}

func (f *Fetcher) remember(hash string) {
	if f.negTTL < 0 {
		return
	}
	f.negMu.Lock()
	defer f.negMu.Unlock()
	if len(f.neg) >= maxNegative {
		clear(f.neg)
	}
	f.neg[hash] = f.now().Add(f.negTTL)
}

// Forget drops hash from the negative cache, for a caller that learned
// the path exists (it was just pushed).
func (f *Fetcher) Forget(hash string) {
	f.negMu.Lock()
	delete(f.neg, hash)
	f.negMu.Unlock()
}

// source returns the source named name.
func (f *Fetcher) source(name string) *source {
	for _, s := range f.sources {
		if s.src.Name() == name {
			return s
		}
	}
	return nil
}

// Open reads key, any file of the caches that needs no checking against a
// narinfo (nix-cache-info, a .ls listing, a build log, or a Range of a NAR
// to pass through), from the first source in priority order that has it.
// It returns the body, which the caller closes, the file's size (-1 when
// unknown) and the source's Name. Requests count in Stats and hold a
// connection slot until the body is closed; sources down are skipped.
func (f *Fetcher) Open(ctx context.Context, key string, rng *Range) (io.ReadCloser, int64, string, error) {
	var failed error
	for _, s := range f.sources {
		if f.down(s) {
			if failed == nil {
				failed = unavailable(s.src.Name(), errors.New("failed moments ago: skipped"))
			}
			continue
		}
		body, size, err := f.open(ctx, s, key, rng, 0)
		if err == nil {
			return body, size, s.src.Name(), nil
		}
		if !errors.Is(err, ErrNotFound) && failed == nil {
			failed = err
		}
	}
	if failed != nil {
		return nil, 0, "", failed
	}
	return nil, 0, "", fmt.Errorf("%s: %w", key, ErrNotFound)
}
