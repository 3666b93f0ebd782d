package observe

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultMaxBuckets is the default number of buckets with a label of
// their own.
const DefaultMaxBuckets = 100

// latencyBuckets span a narinfo from memory (tens of µs) to a large NAR
// over a slow link (a minute).
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// Metrics holds the server's metrics, on a registry of its own (not
// Prometheus' global default, so that two servers in one process, as in
// the tests, keep theirs apart).
type Metrics struct {
	reg     *prometheus.Registry
	ops     []Operation
	buckets *bucketTable

	latency *prometheus.HistogramVec
	hist    []atomic.Pointer[prometheus.Observer] // by op, resolved on first use

	auth        *prometheus.CounterVec
	jobHeld     *prometheus.GaugeVec
	uploadsOpen atomic.Int64
	dropped     atomic.Pointer[func() uint64]

	gcRuns, gcPaths, gcObjects, gcBytes                prometheus.Counter
	lifeRuns, lifeObjects, lifeUploads, lifeBytes      prometheus.Counter
	repeats                                            prometheus.Counter
	descReqs, descIn, descOut, descNarinfo             *prometheus.Desc
	descObjects, descBytes, descPaths, descUploadsOpen *prometheus.Desc
	descDropped                                        *prometheus.Desc
}

// NewMetrics makes the metrics of a server whose requests are of the
// given operations (Note.Op indexes ops; ops[0] is what a request is
// before it is known), with at most maxBuckets bucket labels besides
// "other" (zero or less: every bucket is other).
func NewMetrics(ops []Operation, maxBuckets int) *Metrics {
	m := &Metrics{
		reg:     prometheus.NewRegistry(),
		ops:     ops,
		buckets: newBucketTable(len(ops), maxBuckets),
		hist:    make([]atomic.Pointer[prometheus.Observer], len(ops)),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "nixbucket_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its response, by operation.",
			Buckets: latencyBuckets,
		}, []string{"protocol", "operation"}),
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nixbucket_auth_failures_total",
			Help: "Requests whose credentials did not check out, by reason.",
		}, []string{"reason"}),
		jobHeld: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nixbucket_job_lock_held",
			Help: "1 while this node holds the background job's lock and so runs it (on PostgreSQL, one node of all), else 0.",
		}, []string{"job"}),
		descReqs: prometheus.NewDesc("nixbucket_requests_total",
			"Requests answered, by protocol (nix: binary-cache reads, s3: the rest), operation, bucket and status class.",
			[]string{"protocol", "operation", "bucket", "class"}, nil),
		descIn: prometheus.NewDesc("nixbucket_received_bytes_total",
			"Request body bytes read, by protocol and bucket.", []string{"protocol", "bucket"}, nil),
		descOut: prometheus.NewDesc("nixbucket_sent_bytes_total",
			"Response body bytes written, by protocol and bucket.", []string{"protocol", "bucket"}, nil),
		descNarinfo: prometheus.NewDesc("nixbucket_narinfo_lookups_total",
			"GETs and HEADs of narinfos: hit (found) or miss (404), by bucket.", []string{"bucket", "result"}, nil),
		descObjects: prometheus.NewDesc("nixbucket_bucket_objects",
			"Objects in the bucket, as of the last refresh.", []string{"bucket"}, nil),
		descBytes: prometheus.NewDesc("nixbucket_bucket_bytes",
			"Bytes stored in the bucket's objects, as of the last refresh.", []string{"bucket"}, nil),
		descPaths: prometheus.NewDesc("nixbucket_bucket_paths",
			"Store paths (indexed narinfos) in the bucket, as of the last refresh.", []string{"bucket"}, nil),
		descUploadsOpen: prometheus.NewDesc("nixbucket_multipart_uploads_open",
			"Multipart uploads begun and not yet completed or aborted.", nil, nil),
		descDropped: prometheus.NewDesc("nixbucket_access_log_dropped_total",
			"Access log lines dropped because the log output could not keep up.", nil, nil),
	}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		m.reg.MustRegister(c)
		return c
	}
	m.gcRuns = counter("nixbucket_gc_runs_total", "Garbage collections run (scheduled or requested, not dry runs).")
	m.gcPaths = counter("nixbucket_gc_removed_paths_total", "Store paths (narinfos) the garbage collector removed.")
	m.gcObjects = counter("nixbucket_gc_removed_objects_total", "Objects (narinfos, NARs, listings, logs) the garbage collector removed.")
	m.gcBytes = counter("nixbucket_gc_removed_bytes_total", "Bytes of the objects the garbage collector removed.")
	m.lifeRuns = counter("nixbucket_lifecycle_runs_total", "Sweeps of the buckets' lifecycle rules.")
	m.lifeObjects = counter("nixbucket_lifecycle_expired_objects_total", "Objects the lifecycle rules expired.")
	m.lifeUploads = counter("nixbucket_lifecycle_aborted_uploads_total", "Multipart uploads the lifecycle rules aborted.")
	m.lifeBytes = counter("nixbucket_lifecycle_removed_bytes_total", "Bytes freed by expired objects and aborted uploads.")
	m.repeats = counter("nixbucket_repeated_answers_total", "Requests answered with an answer kept from an identical earlier request, without running the handler (repeated anonymous misses of a public cache); counted in nixbucket_requests_total too.")
	m.reg.MustRegister(m.latency, m.auth, m.jobHeld, (*table)(m),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the text exposition format (or what the
// scraper negotiates).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry is the metrics' registry, for tests and further collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Repeated counts a request answered with a kept answer (Replay).
func (m *Metrics) Repeated() { m.repeats.Inc() }

// Request counts one answered request: a few atomic adds.
func (m *Metrics) Request(n *Note, status int, in, out int64, d time.Duration) {
	op := n.Op
	if op < 0 || op >= len(m.ops) {
		op = 0
	}
	proto := 0
	if m.ops[op].Nix {
		proto = 1
	}
	// A bucket takes a label of its own only when the answer shows it
	// exists (a success, or a 404 of a key: a missing bucket is NoBucket):
	// random names strangers try, refused (401, 403) or malformed (400,
	// 405), fold into other instead of filling the table.
	claim := !n.NoBucket && (status < 400 || status == http.StatusNotFound)
	s := m.buckets.get(n.Bucket, claim)
	if n.NoBucket && s != m.buckets.none {
		s = m.buckets.other
	}
	cls := classOf(status)
	s.reqs[op*classes+cls].Add(1)
	if in > 0 {
		s.in[proto].Add(uint64(in))
	}
	if out > 0 {
		s.out[proto].Add(uint64(out))
	}
	if n.Narinfo {
		switch {
		case status < 400:
			s.narinfo[0].Add(1)
		case status == http.StatusNotFound:
			s.narinfo[1].Add(1)
		}
	}
	if n.Uploads != 0 && cls == 0 {
		m.uploadsOpen.Add(int64(n.Uploads))
	}
	m.observer(op).Observe(d.Seconds())
}

// observer is op's latency histogram, resolved once.
func (m *Metrics) observer(op int) prometheus.Observer {
	if o := m.hist[op].Load(); o != nil {
		return *o
	}
	o := m.latency.WithLabelValues(m.ops[op].Protocol(), m.ops[op].Name)
	m.hist[op].Store(&o)
	return o
}

// AuthFailure counts a failed authentication; reason is one of a few
// fixed words (the label must stay bounded).
func (m *Metrics) AuthFailure(reason string) { m.auth.WithLabelValues(reason).Inc() }

// GC counts one garbage collection and what it removed.
func (m *Metrics) GC(paths, objects, bytes int64) {
	m.gcRuns.Inc()
	m.gcPaths.Add(float64(paths))
	m.gcObjects.Add(float64(objects))
	m.gcBytes.Add(float64(bytes))
}

// WatchMeta exports the state of a metadata store shared by several
// servers (postgres.Store.ListenerState): whether its change listener is
// connected and current, whether the database answers, and how often the
// listener's connection was lost.
func (m *Metrics) WatchMeta(state func() (listening, answering bool, lost uint64)) {
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nixbucket_meta_listener_up",
			Help: "1 while the node's PostgreSQL change listener is connected and current (in-memory answers are used), else 0."},
			func() float64 { l, _, _ := state(); return b(l) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "nixbucket_meta_answering",
			Help: "1 while PostgreSQL answered the node's last ping (every 500 ms, within 2 s), else 0: down, paused or unreachable."},
			func() float64 { _, a, _ := state(); return b(a) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "nixbucket_meta_listener_lost_total",
			Help: "Times the node's PostgreSQL change listener lost its connection (a restart, a terminated backend, a network failure)."},
			func() float64 { _, _, n := state(); return float64(n) }),
	)
}

// JobHeld records whether this node holds a background job's lock
// (jobs.Runner.Held).
func (m *Metrics) JobHeld(job string, held bool) {
	v := 0.0
	if held {
		v = 1
	}
	m.jobHeld.WithLabelValues(job).Set(v)
}

// Lifecycle counts one sweep of the lifecycle rules and what it removed.
func (m *Metrics) Lifecycle(objects, uploads, bytes int64) {
	m.lifeRuns.Inc()
	m.lifeObjects.Add(float64(objects))
	m.lifeUploads.Add(float64(uploads))
	m.lifeBytes.Add(float64(bytes))
}

// SetUsage records the figures of every bucket (a background refresh):
// the per-bucket gauges, and the count of open uploads, which requests
// move between refreshes and the refresh corrects (uploads aborted by
// another server or by the lifecycle sweep).
func (m *Metrics) SetUsage(us []meta.Usage) {
	var uploads int64
	for _, u := range us {
		uploads += u.Uploads
	}
	m.buckets.setUsage(us)
	m.uploadsOpen.Store(uploads)
}

// CountDropped makes the metrics report the access log's dropped lines.
func (m *Metrics) CountDropped(dropped func() uint64) { m.dropped.Store(&dropped) }

// table is the collector of the counters kept in the bucket table.
type table Metrics

func (t *table) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{t.descReqs, t.descIn, t.descOut, t.descNarinfo,
		t.descObjects, t.descBytes, t.descPaths, t.descUploadsOpen, t.descDropped} {
		ch <- d
	}
}

// Collect reports the counters that moved (a label set never used is not
// reported) and the gauges of the last refresh.
func (t *table) Collect(ch chan<- prometheus.Metric) {
	c := func(d *prometheus.Desc, v uint64, labels ...string) {
		if v > 0 {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
		}
	}
	protos := [2]string{"s3", "nix"}
	for _, s := range t.buckets.all() {
		for op := range t.ops {
			for cls := range classes {
				c(t.descReqs, s.reqs[op*classes+cls].Load(), t.ops[op].Protocol(), t.ops[op].Name, s.name, classNames[cls])
			}
		}
		for p := range protos {
			c(t.descIn, s.in[p].Load(), protos[p], s.name)
			c(t.descOut, s.out[p].Load(), protos[p], s.name)
		}
		c(t.descNarinfo, s.narinfo[0].Load(), s.name, "hit")
		c(t.descNarinfo, s.narinfo[1].Load(), s.name, "miss")
		if u := s.usage.Load(); u != nil {
			ch <- prometheus.MustNewConstMetric(t.descObjects, prometheus.GaugeValue, float64(u.Objects), s.name)
			ch <- prometheus.MustNewConstMetric(t.descBytes, prometheus.GaugeValue, float64(u.Bytes), s.name)
			ch <- prometheus.MustNewConstMetric(t.descPaths, prometheus.GaugeValue, float64(u.Paths), s.name)
		}
	}
	ch <- prometheus.MustNewConstMetric(t.descUploadsOpen, prometheus.GaugeValue, float64(max(t.uploadsOpen.Load(), 0)))
	var dropped uint64
	if f := t.dropped.Load(); f != nil {
		dropped = (*f)()
	}
	ch <- prometheus.MustNewConstMetric(t.descDropped, prometheus.CounterValue, float64(dropped))
}

// Traffic is one bucket label's totals since the server started.
type Traffic struct {
	Bucket            string // a bucket, "other", or "" (requests naming none)
	Requests          uint64
	BytesIn, BytesOut uint64
}

// Traffic returns the totals of every bucket label, for a view that
// samples them (the console's traffic charts) without parsing the
// exposition. Labels without requests are left out.
func (m *Metrics) Traffic() []Traffic {
	var out []Traffic
	for _, s := range m.buckets.all() {
		t := Traffic{Bucket: s.name}
		for i := range s.reqs {
			t.Requests += s.reqs[i].Load()
		}
		for p := range s.in {
			t.BytesIn += s.in[p].Load()
			t.BytesOut += s.out[p].Load()
		}
		if t.Requests > 0 {
			out = append(out, t)
		}
	}
	return out
}
