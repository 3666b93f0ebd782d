package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/storage"
)

// readyTimeout bounds each backend's answer to GET /-/ready: a paused
// PostgreSQL keeps its connections open and answers nothing.
const readyTimeout = 3 * time.Second

// serveReady answers GET /-/ready, the readiness probe of a load
// balancer or orchestrator: 200 "ready" when the metadata store and the
// blob store answer now, else 503 naming the one that does not (the
// reason goes to the log, not to whoever asks). /-/health says only that
// the process serves HTTP, and stays 200 meanwhile.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if what, err := s.ready(r.Context()); err != nil {
		s.log.Debug("not ready", "backend", what, "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %s is unavailable\n", what)
		return
	}
	fmt.Fprintln(w, "ready")
}

// ready asks each backend once, within readyTimeout; it returns the
// first that fails ("the metadata store", "the blob store") with why.
func (s *Server) ready(ctx context.Context) (string, error) {
	mctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	// A bucket no one can create ("-" starts no valid name): a lookup
	// by primary key, answered missing.
	if _, err := s.meta.Bucket(mctx, "-ready"); err != nil && !errors.Is(err, meta.ErrNoSuchBucket) {
		return "the metadata store", err
	}
	if p, ok := s.blobs.(storage.Pinger); ok {
		bctx, cancel := context.WithTimeout(ctx, readyTimeout)
		defer cancel()
		if err := p.Ping(bctx); err != nil {
			return "the blob store", err
		}
	}
	return "", nil
}
