package proxy

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nixbucket/nixbucket/internal/diskcache"
	"github.com/nixbucket/nixbucket/internal/observe"
	"github.com/nixbucket/nixbucket/internal/upstream"
)

// MetricsPath is where `nixbucket proxy` serves its metrics, as serve
// does.
const MetricsPath = "/-/metrics"

// Metrics are the proxy's Prometheus metrics: what it answered (by kind
// of request and status class), the bytes it sent, where each NAR it
// served came from, its disk cache, and its upstreams' counters (the
// nixbucket_upstream_* of serve's pull-through buckets, labelled by
// upstream alone), with the Go runtime's and the process's. A request
// costs a few atomic adds: the label values are resolved when the
// Metrics are made.
type Metrics struct {
	reg      *prometheus.Registry
	requests [numKinds][6]prometheus.Counter // by kind and status class (1xx…5xx, other)
	sent     [numKinds]prometheus.Counter
	duration [numKinds]prometheus.Observer
	nars     [numSources]prometheus.Counter
}

// kind is what a request asked for.
type kind int

const (
	kindCacheInfo kind = iota
	kindNarinfo
	kindNAR
	kindListing
	kindLog
	kindOther // anything else: answered 404 or 405
	numKinds
)

var kindNames = [numKinds]string{"CacheInfo", "Narinfo", "Nar", "Listing", "Log", "Other"}

// narSource is where a NAR the proxy served came from.
type narSource int

const (
	fromCache       narSource = iota // the disk cache
	fromDownload                     // a checked download, started or joined
	fromPassthrough                  // passed through unchecked: its narinfo was not served here
	numSources
)

var sourceNames = [numSources]string{"cache", "download", "passthrough"}

// NewMetrics makes the proxy's metrics over its fetcher and its disk
// cache (nil: none).
func NewMetrics(f *upstream.Fetcher, c *diskcache.Cache) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nixbucket_proxy_requests_total", Help: "Requests answered, by operation and status class.",
	}, []string{"operation", "class"})
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nixbucket_proxy_sent_bytes_total", Help: "Response body bytes sent, by operation.",
	}, []string{"operation"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "nixbucket_proxy_request_duration_seconds", Help: "Time from a request's head to the end of its answer, by operation.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"operation"})
	nars := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nixbucket_proxy_nars_total", Help: "NAR GETs answered, by where the bytes came from: the disk cache, a checked download, or passed through unchecked.",
	}, []string{"from"})
	for k := range numKinds {
		for i, class := range classNames {
			m.requests[k][i] = requests.WithLabelValues(kindNames[k], class)
		}
		m.sent[k] = sent.WithLabelValues(kindNames[k])
		m.duration[k] = duration.WithLabelValues(kindNames[k])
	}
	for s := range numSources {
		m.nars[s] = nars.WithLabelValues(sourceNames[s])
	}
	m.reg.MustRegister(requests, sent, duration, nars,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if f != nil {
		m.reg.MustRegister(observe.UpstreamCollector(func() map[string][]upstream.SourceStats {
			return map[string][]upstream.SourceStats{"": f.Stats()}
		}, false))
	}
	if c != nil {
		m.reg.MustRegister(diskcache.Collector("nixbucket_proxy_cache", "NAR", "--max-size", c.Max(), c.Stats))
	}
	return m
}

var classNames = [6]string{"1xx", "2xx", "3xx", "4xx", "5xx", "other"}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry is the metrics' registry, for tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) request(k kind, status int, sent int64, d time.Duration) {
	if m == nil {
		return
	}
	class := status/100 - 1
	if class < 0 || class > 4 {
		class = 5
	}
	m.requests[k][class].Inc()
	m.sent[k].Add(float64(sent))
	m.duration[k].Observe(d.Seconds())
}

func (m *Metrics) nar(s narSource) {
	if m != nil {
		m.nars[s].Inc()
	}
}
