// Package server wires the storage, metadata, object core and protocol
// front ends into one http.Handler. End-to-end tests run exactly this.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/sqlite"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/s3api"
	"github.com/nixbucket/nixbucket/internal/sigv4"
	"github.com/nixbucket/nixbucket/internal/storage/localfs"
)

// Options configure a Server. Only Data is required.
type Options struct {
	Data         string // data directory: blobs/ and meta.db live here
	Region       string // default us-east-1
	Domain       string // enables virtual-host addressing BUCKET.Domain
	StrictRegion bool
	Log          *slog.Logger
}

// Server is an open nixbucket instance.
type Server struct {
	opts    Options
	log     *slog.Logger
	meta    meta.Store
	objects *objects.Service
	handler http.Handler
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
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	blobs, err := localfs.Open(filepath.Join(opts.Data, "blobs"))
	if err != nil {
		return nil, fmt.Errorf("opening blob store: %w", err)
	}
	if n := blobs.SweptTemps(); n > 0 {
		log.Info("removed unfinished uploads left by a crash", "files", n)
	}
	store, err := sqlite.Open(filepath.Join(opts.Data, "meta.db"))
	if err != nil {
		return nil, fmt.Errorf("opening metadata: %w", err)
	}
	s := &Server{opts: opts, log: log, meta: store}
	s.objects = &objects.Service{Meta: store, Blobs: blobs, Log: log}
	start := time.Now()
	if n, err := s.objects.Sweep(ctx, start); err != nil {
		store.Close()
		return nil, fmt.Errorf("sweeping unreferenced blobs: %w", err)
	} else if n > 0 {
		log.Info("removed unreferenced blobs", "blobs", n)
	}
	if err := s.ensureRoot(ctx); err != nil {
		store.Close()
		return nil, err
	}
	s.handler = s.routes()
	return s, nil
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Close closes the metadata store.
func (s *Server) Close() error { return s.meta.Close() }

func (s *Server) routes() http.Handler {
	verifier := &sigv4.Verifier{
		Lookup:       newKeyCache(s.meta).secret,
		Region:       s.opts.Region,
		StrictRegion: s.opts.StrictRegion,
		Domain:       s.opts.Domain,
	}
	api := &s3api.Handler{
		Objects:   s.objects,
		Verifier:  verifier,
		Authorize: s.authorize,
		Region:    s.opts.Region,
		Domain:    s.opts.Domain,
		Log:       s.log,
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /-/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	// S3 keys may hold "//" or "..", which ServeMux would clean and
	// redirect, so only the /-/ namespace (no valid bucket name starts
	// with "-") goes through the mux.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/-/") {
			mux.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// authorize is the one access decision. Until users and policies exist,
// signed requests come only from root, which may do anything, and
// anonymous requests are refused.
func (s *Server) authorize(ctx context.Context, r *http.Request, id s3api.Identity, action, resource string) error {
	if id.Anonymous {
		return &s3api.Error{Code: "AccessDenied", Message: "Access Denied"}
	}
	return nil
}
