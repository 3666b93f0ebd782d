package observe

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nixbucket/nixbucket/internal/upstream"
)

// upstreamCollector exports the counters of upstream fetchers
// (internal/upstream), read at each scrape: they live in the fetchers,
// which count every request and byte anyway. A bucket's counters start
// again from zero when its upstream settings change, which Prometheus
// takes as a counter reset.
type upstreamCollector struct {
	stats     func() map[string][]upstream.SourceStats
	perBucket bool
	descs     [6]*prometheus.Desc
}

// CountUpstreams adds the upstream fetchers' counters, as stats returns
// them per bucket, to the metrics.
func (m *Metrics) CountUpstreams(stats func() map[string][]upstream.SourceStats) {
	m.reg.MustRegister(UpstreamCollector(stats, true))
}

// UpstreamCollector exports fetchers' counters as nixbucket_upstream_*:
// labelled by bucket and upstream when perBucket (serve's pull-through
// buckets, stats keyed by bucket), else by upstream alone (nixbucket
// proxy: one fetcher, under any key).
func UpstreamCollector(stats func() map[string][]upstream.SourceStats, perBucket bool) prometheus.Collector {
	labels := []string{"upstream"}
	if perBucket {
		labels = []string{"bucket", "upstream"}
	}
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("nixbucket_upstream_"+name, help, labels, nil)
	}
	return &upstreamCollector{stats: stats, perBucket: perBucket, descs: [6]*prometheus.Desc{
		d("requests_total", "Requests sent to an upstream cache (narinfos and NARs)."),
		d("received_bytes_total", "Body bytes received from an upstream cache."),
		d("not_found_total", "Upstream requests answered not found."),
		d("errors_total", "Upstream requests that failed or timed out (answered as misses), cut bodies included."),
		d("mismatches_total", "NARs from an upstream whose size or hash differed from their narinfo (discarded)."),
		d("untrusted_total", "Upstream narinfos refused: malformed, or without a trusted signature."),
	}}
}

func (c *upstreamCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *upstreamCollector) Collect(ch chan<- prometheus.Metric) {
	for bucket, sources := range c.stats() {
		for _, s := range sources {
			for i, v := range [6]uint64{s.Fetches, s.Bytes, s.NotFound, s.Errors, s.Mismatches, s.Untrusted} {
				if c.perBucket {
					ch <- prometheus.MustNewConstMetric(c.descs[i], prometheus.CounterValue, float64(v), bucket, s.Source)
				} else {
					ch <- prometheus.MustNewConstMetric(c.descs[i], prometheus.CounterValue, float64(v), s.Source)
				}
			}
		}
	}
}
