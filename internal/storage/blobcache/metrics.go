package blobcache

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nixbucket/nixbucket/internal/diskcache"
)

// Collectors export the cache's metrics: those of its directory as the
// proxy's disk cache has them, named nixbucket_blob_cache_* (hits and
// misses count Opens of blobs of at least MinSize), and
// nixbucket_blob_cache_fills_total by result.
func (c *Cache) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		diskcache.Collector("nixbucket_blob_cache", "Blob", "--blob-cache-size", c.disk.Max(), c.disk.Stats),
		fillCollector{c},
	}
}

type fillCollector struct{ c *Cache }

var fillsDesc = prometheus.NewDesc("nixbucket_blob_cache_fills_total",
	"Copies of blobs from the blob store into the blob cache, by result: done, failed, busy (not started: the fills allowed at once were running), no_room (not started: the bound held only files in use, or the disk would go under --min-free), dropped (the blob was deleted meanwhile).",
	[]string{"result"}, nil)

func (fc fillCollector) Describe(ch chan<- *prometheus.Desc) { ch <- fillsDesc }

func (fc fillCollector) Collect(ch chan<- prometheus.Metric) {
	st := fc.c.FillStats()
	for _, r := range []struct {
		name string
		n    uint64
	}{{"done", st.Done}, {"failed", st.Failed}, {"busy", st.Busy}, {"no_room", st.NoRoom}, {"dropped", st.Dropped}} {
		ch <- prometheus.MustNewConstMetric(fillsDesc, prometheus.CounterValue, float64(r.n), r.name)
	}
}
