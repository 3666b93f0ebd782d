// Package pullthrough makes a bucket with upstreams (nixbucket bucket set
// BUCKET upstreams='URL …') a pull-through cache: a narinfo the bucket
// lacks is asked of its upstreams through internal/upstream, and an
// accepted one is stored in the bucket at once, keeping the upstream's
// signatures and adding the bucket's own, with its URL rewritten to a NAR
// key of the bucket. The NAR itself is fetched on its first GET, once
// however many clients ask, streamed to all of them while it is stored,
// and committed only once its size and hash match the narinfo.
//
// A stored pulled NAR's ETag is not an MD5 but objects.PulledETag, the
// first half of its SHA-256 (which the fetcher computed and checked) in
// hex with "-1", the multipart form S3 gives objects whose ETag is not
// their MD5: MD5 was the one hash a first download still computed only
// for the ETag (about a quarter of a core), and clients that check a
// download against the ETag (rclone, s3cmd) skip a multipart one rather
// than fail it. If-Match and If-None-Match work with it as with any ETag.
//
// The NAR key of a pulled path is nar/<store hash>-<file hash><ext>
// (ext as the upstream's: .nar.xz, .nar.zst, …): it names the store path,
// so any server of a shared store can find, from a NAR GET alone, the
// narinfo that promised the NAR and fetch it.
//
// Until its first GET, a pulled path's NAR exists upstream only: the
// bucket's index points at a NAR it does not hold yet. Readers never see
// the difference (a HEAD answers the size, a GET streams from upstream);
// nixbucket verify and the GC see a narinfo whose NAR is missing.
//
// Writers do not pull: the callers of Narinfo and NAR (internal/s3api)
// skip the upstreams for anyone who may write the key, so the probes of a
// push (nix copy asks for each narinfo before uploading it) never fetch
// what is about to be uploaded.
package pullthrough

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixbase32"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
	"github.com/nixbucket/nixbucket/internal/nix/storepath"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/upstream"
)

// Store is what pull-through needs of the metadata store.
type Store interface {
	CacheSettings(ctx context.Context, bucket string) (meta.CacheSettings, error)
	SigningKeys(ctx context.Context, bucket string) ([]meta.SigningKey, error)
	Narinfo(ctx context.Context, bucket, hash string) (meta.Narinfo, error)
	// The generation moves at every settings change, in any process.
	meta.Announcer
}

// narinfoTimeout bounds a narinfo miss's whole trip upstream (all
// sources): a substituter waits for it, and an upstream slower than this
// is better treated as missing.
const narinfoTimeout = 10 * time.Second

// maxOrigins bounds the remembered upstream narinfos of pulled paths.
const maxOrigins = 1 << 16

// Service answers the misses of pull-through buckets. Its fields are set
// once before use.
type Service struct {
	Store   Store
	Objects *objects.Service
	// TempDir holds NARs while they download; it must be on a local disk.
	TempDir string
	// Source configures the upstream connections (netrc file, timeouts).
	Source upstream.SourceOptions
	Log    *slog.Logger

	mu      sync.Mutex
	buckets map[string]*bucketState
	origins map[string]origin // bucket + "/" + hash → where it was pulled from

	narinfos singleflight.Group
}

// origin is the upstream narinfo of a pulled path, and the fetcher (of
// the bucket's settings then) that pulled it: its Source names one of
// that fetcher's sources, which a fetcher made after a settings change may
// no longer have.
type origin struct {
	fetcher *upstream.Fetcher
	info    *upstream.Narinfo
}

// bucketState is a bucket's fetcher, made from its settings as they were
// at generation gen.
type bucketState struct {
	gen      uint64
	settings meta.CacheSettings
	fetcher  *upstream.Fetcher // nil: the bucket does not pull through
	err      error             // the settings could not make a fetcher
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// fetcher returns the bucket's fetcher, nil when the bucket does not pull
// through. After a settings change (in any process: the generation moves)
// the settings are read again; a new fetcher is made only if they differ,
// so unchanged settings keep their negative cache and downloads.
func (s *Service) fetcher(ctx context.Context, bucket string) (*upstream.Fetcher, error) {
	gen, err := s.Store.Generation(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	st := s.buckets[bucket]
	s.mu.Unlock()
	if st != nil && st.gen == gen {
		return st.fetcher, st.err
	}
	cs, err := s.Store.CacheSettings(ctx, bucket)
	if err != nil {
		return nil, err
	}
	fresh := &bucketState{gen: gen, settings: cs}
	switch {
	case st != nil && st.settings == cs:
		fresh.fetcher, fresh.err = st.fetcher, st.err
	case cs.Upstreams != "":
		fresh.fetcher, fresh.err = s.newFetcher(ctx, bucket, cs)
		if fresh.err != nil {
			s.log().Error("bucket upstreams unusable: not pulling through", "bucket", bucket, "err", fresh.err)
		}
	}
	s.mu.Lock()
	if s.buckets == nil {
		s.buckets = map[string]*bucketState{}
	}
	if cur := s.buckets[bucket]; cur == nil || cur.gen <= gen {
		s.buckets[bucket] = fresh
	}
	s.mu.Unlock()
	return fresh.fetcher, fresh.err
}

func (s *Service) newFetcher(ctx context.Context, bucket string, cs meta.CacheSettings) (*upstream.Fetcher, error) {
	cfg := upstream.Config{
		TrustAny: cs.UpstreamTrustAny, NegativeTTL: cs.UpstreamNegativeTTL, MaxConns: cs.UpstreamMaxConns,
		NarinfoTimeout: cs.UpstreamTimeout,
		Logger:         s.log().With("bucket", bucket),
	}
	for _, k := range strings.Fields(cs.UpstreamKeys) {
		pk, err := signature.ParsePublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("upstream key %q: %w", k, err)
		}
		cfg.TrustedKeys = append(cfg.TrustedKeys, pk)
	}
	for _, u := range strings.Fields(cs.Upstreams) {
		src, err := upstream.NewSource(ctx, u, s.Source)
		if err != nil {
			return nil, err
		}
		cfg.Sources = append(cfg.Sources, src)
	}
	return upstream.New(cfg), nil
}

// Stats returns each pull-through bucket's upstream counters (see
// upstream.SourceStats), for metrics. A settings change starts them anew.
func (s *Service) Stats() map[string][]upstream.SourceStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]upstream.SourceStats{}
	for b, st := range s.buckets {
		if st.fetcher != nil {
			out[b] = st.fetcher.Stats()
		}
	}
	return out
}

// Enabled reports whether bucket pulls through: it has upstreams that
// make a fetcher.
func (s *Service) Enabled(ctx context.Context, bucket string) bool {
	f, err := s.fetcher(ctx, bucket)
	return f != nil && err == nil
}

// Narinfo fills the miss of bucket's hash.narinfo from its upstreams: it
// reports whether the narinfo is now stored in the bucket. Upstream
// misses, errors and timeouts all report false (after logging and
// counting the errors), so the client gets a fast 404.
func (s *Service) Narinfo(ctx context.Context, bucket, hash string) bool {
	f, err := s.fetcher(ctx, bucket)
	if f == nil || err != nil {
		return false
	}
	// One trip upstream and one store per path, however many ask; the
	// trip is not the first asker's to cancel.
	ch := s.narinfos.DoChan(bucket+"/"+hash, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), narinfoTimeout)
		defer cancel()
		return nil, s.pullNarinfo(ctx, f, bucket, hash)
	})
	select {
	case r := <-ch:
		return r.Err == nil
	case <-ctx.Done():
		return false
	}
}

func (s *Service) pullNarinfo(ctx context.Context, f *upstream.Fetcher, bucket, hash string) error {
	up, err := f.Narinfo(ctx, hash)
	if err != nil {
		if !errors.Is(err, upstream.ErrNotFound) {
			s.log().Warn("upstream narinfo unavailable: answering 404", "bucket", bucket, "hash", hash, "err", err)
		}
		return err
	}
	ni := *up.Info
	ni.URL = narKey(hash, up.Info)
	ni.Sigs = append([]string(nil), up.Info.Sigs...)
	keys, err := s.Store.SigningKeys(ctx, bucket)
	if err != nil {
		return err
	}
	for _, k := range keys {
		sk, err := signature.ParseSecretKey(k.Secret)
		if err != nil {
			return fmt.Errorf("bucket %s signing key %s: %w", bucket, k.Name, err)
		}
		// The upstream's signature by a trusted key vouches for the
		// path; the bucket's says the bucket vouches for it in turn.
		// Beside, not instead: the upstream's key may have the same name.
		ni.SignBeside(sk)
	}
	s.remember(bucket, hash, f, up)
	body := []byte(ni.String())
	_, err = s.Objects.PutVouched(ctx, bucket, hash+".narinfo", meta.Headers{ContentType: "text/x-nix-narinfo"},
		body, record(bucket, hash, &ni), objects.Conditions{IfNoneMatch: "*"})
	if errors.Is(err, meta.ErrPreconditionFailed) {
		return nil // pushed or pulled meanwhile: that one stands
	}
	if err != nil {
		s.log().Error("storing an upstream narinfo", "bucket", bucket, "hash", hash, "err", err)
	}
	return err
}

func (s *Service) remember(bucket, hash string, f *upstream.Fetcher, up *upstream.Narinfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.origins == nil || len(s.origins) >= maxOrigins {
		s.origins = map[string]origin{}
	}
	s.origins[bucket+"/"+hash] = origin{f, up}
}

// origin returns the upstream narinfo of a path f pulled, nil when f did
// not pull it (another server did, or this one before a restart or before
// the bucket's upstream settings changed).
func (s *Service) origin(bucket, hash string, f *upstream.Fetcher) *upstream.Narinfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.origins[bucket+"/"+hash]; ok && o.fetcher == f {
		return o.info
	}
	return nil
}

// narKey is the bucket key of a pulled path's NAR file.
func narKey(hash string, up *narinfo.NarInfo) string {
	fh, _ := nixhash.ParseSHA256(up.FileHash) // validated by the fetcher
	base := up.URL[strings.LastIndexByte(up.URL, '/')+1:]
	ext := ".nar" + compressionExt(up.Compression)
	if i := strings.Index(base, ".nar"); i >= 0 && validExt(base[i:]) {
		ext = base[i:]
	}
	return "nar/" + hash + "-" + fh.Nix32() + ext
}

func validExt(ext string) bool {
	for _, c := range ext {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.') {
			return false
		}
	}
	return len(ext) <= 16
}

func compressionExt(c string) string {
	switch c {
	case "none":
		return ""
	case "zstd":
		return ".zst"
	case "bzip2":
		return ".bz2"
	case "brotli":
		return ".br"
	}
	return "." + c
}

// parseNARKey returns the store path hash of a pulled path's NAR key.
func parseNARKey(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, "nar/")
	if !ok || len(rest) < storepath.HashLen+1+52+4 || rest[storepath.HashLen] != '-' {
		return "", false
	}
	hash, fh := rest[:storepath.HashLen], rest[storepath.HashLen+1:storepath.HashLen+53]
	if nixbase32.ValidateString(hash) != nil || nixbase32.ValidateString(fh) != nil ||
		!strings.HasPrefix(rest[storepath.HashLen+53:], ".nar") {
		return "", false
	}
	return hash, true
}

func record(bucket, hash string, ni *narinfo.NarInfo) *meta.Narinfo {
	return &meta.Narinfo{
		Bucket: bucket, Hash: hash, StorePath: ni.StorePath, URL: ni.URL, Compression: ni.Compression,
		FileHash: ni.FileHash, FileSize: int64(ni.FileSize), NarHash: ni.NarHash, NarSize: int64(ni.NarSize),
		References: ni.References, Deriver: ni.Deriver, Sigs: ni.Sigs, CA: ni.CA, Created: time.Now().UTC(),
	}
}

// ClearTemp removes what downloads left in TempDir (a crash), creating
// it if needed. Call it before serving.
func (s *Service) ClearTemp() error {
	if err := os.RemoveAll(s.TempDir); err != nil {
		return err
	}
	return os.MkdirAll(s.TempDir, 0o700)
}

// ForgetGone drops the state of the buckets exists reports gone (the
// server calls it with each refresh of its bucket list): a deleted
// pull-through bucket's fetcher, with its negative cache and its upstream
// counters, which the metrics would report for good. A bucket created
// since the list was read loses nothing it cannot read again.
func (s *Service) ForgetGone(exists func(bucket string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for b := range s.buckets {
		if !exists(b) {
			delete(s.buckets, b)
		}
	}
}
