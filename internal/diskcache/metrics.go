package diskcache

import "github.com/prometheus/client_golang/prometheus"

// collector exports a cache's counters and size, read at each scrape.
type collector struct {
	stats func() Stats
	max   int64
	descs [9]*prometheus.Desc
}

// Collector exports the counters and size of a cache as Prometheus
// metrics named prefix_hits_total, _misses_total, _commits_total,
// _evictions_total, _evicted_bytes_total, _files, _bytes, _reserved_bytes
// and _max_bytes, read from stats at each scrape (c.Stats, or the
// caller's own view of it). noun names the entries in the help texts
// ("NAR", "blob") and bound the flag that sets the bound. The proxy and
// the blob cache of serve export the same set under their own prefixes.
func Collector(prefix, noun, bound string, max int64, stats func() Stats) prometheus.Collector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(prefix+"_"+name, help, nil, nil) }
	return &collector{stats: stats, max: max, descs: [9]*prometheus.Desc{
		d("hits_total", noun+" lookups the disk cache answered."),
		d("misses_total", noun+" lookups the disk cache did not hold."),
		d("commits_total", noun+" files written into the disk cache."),
		d("evictions_total", noun+" files evicted to make room (least recently used first)."),
		d("evicted_bytes_total", "Bytes of the "+noun+" files evicted."),
		d("files", noun+" files kept."),
		d("bytes", "Bytes of the "+noun+" files kept."),
		d("reserved_bytes", "Bytes set aside for "+noun+" files being written."),
		d("max_bytes", "The disk cache's bound ("+bound+")."),
	}}
}

func (cc *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range cc.descs {
		ch <- d
	}
}

func (cc *collector) Collect(ch chan<- prometheus.Metric) {
	st := cc.stats()
	for i, v := range [5]uint64{st.Hits, st.Misses, st.Commits, st.Evictions, st.EvictedBytes} {
		ch <- prometheus.MustNewConstMetric(cc.descs[i], prometheus.CounterValue, float64(v))
	}
	for i, v := range [4]int64{int64(st.Entries), st.Bytes, st.Reserved, cc.max} {
		ch <- prometheus.MustNewConstMetric(cc.descs[5+i], prometheus.GaugeValue, float64(v))
	}
}
