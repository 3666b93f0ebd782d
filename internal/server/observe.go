package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/forwarded"
	"github.com/nixbucket/nixbucket/internal/observe"
	"github.com/nixbucket/nixbucket/internal/policy"
	"github.com/nixbucket/nixbucket/internal/s3api"
	"github.com/nixbucket/nixbucket/internal/sigv4"
)

// MetricsPath is where the metrics are served.
const MetricsPath = "/-/metrics"

// MetricsResource is the resource of the nixbucket:GetMetrics action: the
// metrics cover every bucket.
const MetricsResource = "arn:aws:s3:::*"

// usageEvery is how often the per-bucket gauges are refreshed from the
// metadata store (one aggregate query, see meta.Usages).
const usageEvery = time.Minute

// The operations of nixbucket's own endpoints under /-/, after the S3
// front end's (see s3api.Operations).
var serverOps = []string{"Health", "SigningKeys", "Pins", "Metrics", "Console", "Ready", "OtherEndpoint"}

// openObserve makes the server's metrics and access log.
func (s *Server) openObserve() {
	ops := s3api.Operations()
	s.opBase = len(ops)
	for _, name := range serverOps {
		ops = append(ops, observe.Operation{Name: name})
	}
	maxBuckets := s.opts.MetricsMaxBuckets
	if maxBuckets == 0 {
		maxBuckets = observe.DefaultMaxBuckets
	}
	s.metrics = observe.NewMetrics(ops, maxBuckets)
	if s.opts.AccessLog != nil {
		s.accessLog = observe.NewAccessLog(s.opts.AccessLog, s.opts.LogJSON, s.log)
		s.metrics.CountDropped(s.accessLog.Dropped)
	}
	if s.opts.LogDropped != nil {
		s.metrics.CountDropped(s.opts.LogDropped)
	}
	s.observer = &observe.Observer{Metrics: s.metrics, Log: s.accessLog, Ops: ops}
}

// endpointOp notes which of the /-/ endpoints a request is for, and gives
// it a request id, sent as S3 requests' is.
func (s *Server) endpointOp(w http.ResponseWriter, path string) {
	n := observe.NoteOf(w)
	if n == nil {
		return
	}
	n.RequestID = s3api.RequestID()
	w.Header().Set("X-Amz-Request-Id", n.RequestID)
	name := strings.TrimPrefix(path, "/-/")
	name, _, _ = strings.Cut(name, "/")
	i := len(serverOps) - 1
	switch name {
	case "health":
		i = 0
	case "keys":
		i = 1
	case "api":
		i = 2
	case "metrics":
		i = 3
	case "ui":
		i = 4
	case "ready":
		i = 5
	}
	n.Op = s.opBase + i
}

// Refused logs and counts an answer the HTTP server wrote by itself to a
// request it could not read, which no handler saw
// (fastlane.Options.Refused).
func (s *Server) Refused(remote net.Addr, status int, body int64) {
	s.observer.Refused(remote.String(), s3api.RequestID(), status, body)
}

// Metrics are the server's metrics.
func (s *Server) Metrics() *observe.Metrics { return s.metrics }

// MetricsHandler serves the metrics at MetricsPath to anyone who reaches
// it, for a listener of their own (serve --metrics-listen): every request
// there is logged and counted as on the main listener (operation Metrics,
// or OtherEndpoint for another path, 404).
func (s *Server) MetricsHandler() http.Handler {
	metrics := s.metrics.Handler()
	return s.observer.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.endpointOp(w, r.URL.Path)
		switch {
		case r.URL.Path != MetricsPath:
			http.NotFound(w, r)
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		default:
			metrics.ServeHTTP(w, r)
		}
	}))
}

// serveMetrics serves the metrics on the main listener to loopback callers
// and to callers allowed nixbucket:GetMetrics on MetricsResource, known
// the way every request is (an S3 signature, Basic or Bearer).
func (s *Server) serveMetrics(api *s3api.Handler) http.HandlerFunc {
	metrics := s.metrics.Handler()
	return func(w http.ResponseWriter, r *http.Request) {
		if s.opts.MetricsElsewhere {
			http.NotFound(w, r)
			return
		}
		if !forwarded.Local(r) {
			id, _, err := api.Identify(r)
			if err == nil {
				err = s.access.Authorize(r.Context(), r, id, policy.ActionGetMetrics, MetricsResource)
			}
			// The caller is logged once known, allowed or not: a refused
			// scraper is no anonymous one.
			if n := observe.NoteOf(w); n != nil && !id.Anonymous {
				n.Principal, n.Token = id.User, id.TokenID
			}
			switch {
			case err == nil:
			case id.Anonymous:
				w.Header().Set("WWW-Authenticate", `Basic realm="nixbucket"`)
				http.Error(w, "401 Unauthorized: the metrics need credentials allowed nixbucket:GetMetrics", http.StatusUnauthorized)
				return
			case errors.Is(err, access.ErrDenied):
				http.Error(w, "403 AccessDenied: nixbucket:GetMetrics is not allowed", http.StatusForbidden)
				return
			default:
				http.Error(w, "403 AccessDenied: "+err.Error(), http.StatusForbidden)
				return
			}
		}
		metrics.ServeHTTP(w, r)
	}
}

// refreshUsage keeps the per-bucket gauges current until ctx ends.
func (s *Server) refreshUsage(ctx context.Context) {
	t := time.NewTicker(usageEvery)
	defer t.Stop()
	for {
		if err := s.RefreshUsage(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("metrics: summing the buckets", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RefreshUsage sums every bucket for the per-bucket gauges now, and lets
// what is kept in memory per bucket go for the buckets that are gone
// (deleted here, by another node or by an admin command beside the
// server): the metrics' labels, the objects' filters and counters, the
// console's graphs, the pull-through fetchers.
func (s *Server) RefreshUsage(ctx context.Context) error {
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	us, err := s.meta.Usage(ctx)
	if err != nil {
		return err
	}
	s.metrics.SetUsage(us)
	live := make(map[string]bool, len(us))
	for _, u := range us {
		live[u.Bucket] = true
	}
	exists := func(b string) bool { return live[b] }
	s.objects.ForgetGone(exists)
	s.pull.ForgetGone(exists)
	if s.console != nil {
		s.console.ForgetGone(exists)
	}
	return nil
}

// refreshAfterRemoval refreshes the per-bucket gauges (and the count of
// uploads open) after a collection or a lifecycle sweep removed objects or
// aborted uploads, so that they show it at once rather than at the next
// minute's refresh.
func (s *Server) refreshAfterRemoval(ctx context.Context) {
	if err := s.RefreshUsage(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("metrics: summing the buckets", "err", err)
	}
}

// authFailureReason is the reason label of a failed authentication: a few
// fixed words, from the error alone (the log line's reason, which looks
// the key up, says more).
func authFailureReason(err error) string {
	var se *sigv4.Error
	if errors.As(err, &se) {
		switch {
		case sigv4.UnknownKey(err):
			return "unknown_key"
		case se.Code == sigv4.CodeSignatureDoesNotMatch:
			return "signature_mismatch"
		case se.Code == sigv4.CodeRequestTimeTooSkewed:
			return "clock_skew"
		case se.Message == "Request has expired":
			return "presign_expired"
		case se.Code == sigv4.CodeInvalidAccessKeyID:
			return "unknown_key"
		}
		return "malformed"
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unknown token or wrong secret"):
		return "token_rejected"
	case strings.Contains(msg, "unknown access key or wrong secret"):
		return "key_rejected"
	case strings.Contains(msg, "expired"):
		return "token_expired"
	case strings.Contains(msg, "malformed"), strings.Contains(msg, "need the user's name"):
		return "malformed"
	case strings.Contains(msg, "no longer exists"):
		return "user_deleted"
	}
	return "other"
}
