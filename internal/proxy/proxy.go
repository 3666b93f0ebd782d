// Package proxy is `nixbucket proxy`: a local plain-HTTP binary cache in
// front of upstream caches, typically a private S3 cache, so that any Nix
// (builds without S3 support included) substitutes from it with
// `--option substituters http://127.0.0.1:8080`.
//
// Narinfos come through the upstream Fetcher, which checks their
// signatures, and are served as the upstream sent them: the client checks
// the upstream's key itself, the proxy signs nothing. NARs are fetched once
// however many clients ask (the Fetcher's singleflight, and one download
// per file here), streamed to every client while they arrive, and, with a
// disk cache, kept after the Fetcher checked them. Listings (.ls), build
// logs and nix-cache-info are passed through from the first upstream that
// has them.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nixbucket/nixbucket/internal/diskcache"
	"github.com/nixbucket/nixbucket/internal/nix/storepath"
	"github.com/nixbucket/nixbucket/internal/observe"
	"github.com/nixbucket/nixbucket/internal/upstream"
)

// Config is what a Server is made of.
type Config struct {
	// Fetcher fetches and checks narinfos and NARs.
	Fetcher *upstream.Fetcher
	// Cache keeps checked NARs; nil streams them through without keeping.
	Cache *diskcache.Cache
	// TempDir holds the downloads of NARs not kept (no Cache, or no room
	// in it); "" means os.TempDir().
	TempDir string
	// Priority is the Priority of the nix-cache-info served when no
	// upstream has one; 0 means 40, cache.nixos.org's.
	Priority int
	Logger   *slog.Logger
	// Metrics, when set, count every request (NewMetrics).
	Metrics *Metrics
}

// Server is the proxy's http.Handler.
type Server struct {
	cfg Config
	log *slog.Logger

	infoMu   sync.Mutex
	info     []byte // the first upstream's nix-cache-info, once read
	narsMu   sync.Mutex
	nars     map[string]*upstream.Narinfo // NAR file name → the narinfo that named it
	flightMu sync.Mutex
	flights  map[string]*flight // NAR file name → its download in flight
}

// maxKnownNARs bounds the map from NAR file names to narinfos; past it the
// map is emptied (a client whose narinfo was forgotten gets the NAR passed
// through unchecked, and checks it itself against the NarHash it has).
const maxKnownNARs = 1 << 16

// New makes the proxy's handler. It contacts nothing.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TempDir == "" {
		cfg.TempDir = os.TempDir()
	}
	if cfg.Priority == 0 {
		cfg.Priority = 40
	}
	return &Server{cfg: cfg, log: cfg.Logger, nars: map[string]*upstream.Narinfo{}, flights: map[string]*flight{}}
}

// ServeHTTP answers the binary-cache protocol's reads.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/")
	k := kindOf(key)
	if s.cfg.Metrics == nil {
		s.serve(w, r, key, k)
		return
	}
	start := time.Now()
	rec := &observe.StatusWriter{ResponseWriter: w}
	defer func() { // counted even when a cut NAR aborts the handler
		s.cfg.Metrics.request(k, rec.Status(), rec.Written(), time.Since(start))
	}()
	s.serve(rec, r, key, k)
}

// kindOf tells what a request path (without its leading slash) asks for.
func kindOf(key string) kind {
	switch {
	case key == "nix-cache-info":
		return kindCacheInfo
	case strings.HasSuffix(key, ".narinfo") && !strings.Contains(key, "/"):
		return kindNarinfo
	case strings.HasPrefix(key, "nar/") && diskcache.ValidName(key[len("nar/"):]):
		return kindNAR
	case strings.HasSuffix(key, ".ls") && !strings.Contains(key, "/") && storepath.ValidateHash(strings.TrimSuffix(key, ".ls")) == nil:
		return kindListing
	case strings.HasPrefix(key, "log/") && validLogName(key[len("log/"):]):
		return kindLog
	}
	return kindOther
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, key string, k kind) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "nixbucket proxy is read-only", http.StatusMethodNotAllowed)
		return
	}
	switch k {
	case kindCacheInfo:
		s.serveCacheInfo(w, r)
	case kindNarinfo:
		s.serveNarinfo(w, r, strings.TrimSuffix(key, ".narinfo"))
	case kindNAR:
		s.serveNAR(w, r, key[len("nar/"):])
	case kindListing:
		s.passThrough(w, r, key, "application/json")
	case kindLog:
		s.passThrough(w, r, key, "text/plain; charset=utf-8")
	default:
		http.NotFound(w, r)
	}
}

// validLogName accepts a derivation's base name, never a path.
func validLogName(name string) bool {
	if name == "" || len(name) > 255 || name[0] == '.' {
		return false
	}
	return !strings.ContainsAny(name, "/\\\x00") && !strings.Contains(name, "..")
}

// serveCacheInfo serves the first upstream's nix-cache-info (read once),
// or one of its own while none answers: Nix refuses a substituter
// without one.
func (s *Server) serveCacheInfo(w http.ResponseWriter, r *http.Request) {
	s.infoMu.Lock()
	info := s.info
	s.infoMu.Unlock()
	if info == nil {
		b, err := s.readSmall(r.Context(), "nix-cache-info", 64<<10)
		switch {
		case err == nil:
			info = b
			s.infoMu.Lock()
			s.info = b
			s.infoMu.Unlock()
		case !errors.Is(err, upstream.ErrNotFound):
			s.log.Warn("proxy: nix-cache-info", "err", err)
		}
	}
	if info == nil {
		info = fmt.Appendf(nil, "StoreDir: %s\nWantMassQuery: 1\nPriority: %d\n", storepath.DefaultDir, s.cfg.Priority)
	}
	w.Header().Set("Content-Type", "text/x-nix-cache-info")
	w.Header().Set("Content-Length", strconv.Itoa(len(info)))
	if r.Method == http.MethodGet {
		w.Write(info)
	}
}

// readSmall reads a whole small file from the first upstream that has it.
func (s *Server) readSmall(ctx context.Context, key string, limit int64) ([]byte, error) {
	body, _, src, err := s.cfg.Fetcher.Open(ctx, key, nil)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("%s/%s: larger than %d bytes", src, key, limit)
	}
	return b, err
}

// serveNarinfo serves the narinfo of hash as the first upstream that has
// one the Fetcher accepts sent it. Every failure is a fast 404, so Nix
// moves on to its next substituter or builds.
func (s *Server) serveNarinfo(w http.ResponseWriter, r *http.Request, hash string) {
	ni, err := s.cfg.Fetcher.Narinfo(r.Context(), hash)
	if err != nil {
		if !errors.Is(err, upstream.ErrNotFound) {
			s.log.Warn("proxy: narinfo", "hash", hash, "err", err)
		}
		http.NotFound(w, r)
		return
	}
	s.remember(ni)
	w.Header().Set("Content-Type", "text/x-nix-narinfo")
	w.Header().Set("Content-Length", strconv.Itoa(len(ni.Raw)))
	if r.Method == http.MethodGet {
		w.Write(ni.Raw)
	}
}

// remember notes which narinfo named a NAR file, for its GET.
func (s *Server) remember(ni *upstream.Narinfo) {
	name, ok := strings.CutPrefix(ni.Info.URL, "nar/")
	if !ok || !diskcache.ValidName(name) {
		return
	}
	s.narsMu.Lock()
	defer s.narsMu.Unlock()
	if len(s.nars) >= maxKnownNARs {
		clear(s.nars)
	}
	s.nars[name] = ni
}

func (s *Server) known(name string) *upstream.Narinfo {
	s.narsMu.Lock()
	defer s.narsMu.Unlock()
	return s.nars[name]
}

// passThrough streams key from the first upstream that has it, unchecked,
// with the client's Range (which the upstream's answer is checked to be
// for). A miss or a failure is a 404.
func (s *Server) passThrough(w http.ResponseWriter, r *http.Request, key, contentType string) {
	rng, ok := parseRange(r.Header.Get("Range"))
	if !ok {
		rng = nil // a range we do not pass on: answer the whole file
	}
	if r.Method == http.MethodHead {
		// One byte is enough to learn the size: a probe fetches no file.
		if size, found := s.headThrough(r.Context(), key); found {
			w.Header().Set("Content-Type", contentType)
			if size >= 0 {
				w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
			}
			return
		}
		http.NotFound(w, r)
		return
	}
	body, size, src, err := s.cfg.Fetcher.Open(r.Context(), key, rng)
	if err != nil {
		if !errors.Is(err, upstream.ErrNotFound) {
			s.log.Warn("proxy: pass through", "key", key, "err", err)
		}
		http.NotFound(w, r)
		return
	}
	defer body.Close()
	if rng != nil && size < 0 {
		// The upstream answered the range without the file's size, which
		// this answer's Content-Range must state; a 200 of the range's
		// bytes would pass them off as the whole file.
		s.log.Warn("proxy: pass through", "upstream", src, "key", key, "err", "a range answered without the file's size")
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	status := http.StatusOK
	if rng != nil {
		end := size - 1
		if rng.Length >= 0 {
			end = min(end, rng.Offset+rng.Length-1)
		}
		if rng.Offset > end {
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rng.Offset, end, size))
		h.Set("Content-Length", strconv.FormatInt(end-rng.Offset+1, 10))
		status = http.StatusPartialContent
	} else if size >= 0 && rng == nil {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	if strings.HasPrefix(key, "nar/") {
		h.Set("Accept-Ranges", "bytes")
	}
	w.WriteHeader(status)
	if _, err := io.Copy(w, body); err != nil {
		s.log.Warn("proxy: pass through cut", "upstream", src, "key", key, "err", err)
		panic(http.ErrAbortHandler) // never complete a response with missing bytes
	}
}

// headThrough asks the upstreams in order for the first byte of key and
// returns its total size (-1 when unknown); found is false when none has it.
func (s *Server) headThrough(ctx context.Context, key string) (size int64, found bool) {
	body, size, _, err := s.cfg.Fetcher.Open(ctx, key, &upstream.Range{Offset: 0, Length: 1})
	if err != nil {
		return 0, false
	}
	body.Close()
	return size, true
}

// parseRange reads a single "bytes=FIRST-[LAST]" range; ok is false for
// anything else (suffix ranges, several ranges), which is then ignored.
func parseRange(h string) (*upstream.Range, bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return nil, false
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found || first == "" {
		return nil, false
	}
	off, err := strconv.ParseInt(first, 10, 64)
	if err != nil || off < 0 {
		return nil, false
	}
	if last == "" {
		return &upstream.Range{Offset: off, Length: -1}, true
	}
	end, err := strconv.ParseInt(last, 10, 64)
	if err != nil || end < off {
		return nil, false
	}
	return &upstream.Range{Offset: off, Length: end - off + 1}, true
}
