package observe

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var testOps = []Operation{{Name: "Unknown"}, {Name: "GetObject"}, {Name: "PutObject"}, {Name: "Narinfo", Nix: true}}

// samples returns the value of every sample of the metric name, by its
// labels rendered as "k=v,k=v".
func samples(t *testing.T, m *Metrics, name string) map[string]float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			var labels []string
			for _, l := range s.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := s.GetCounter().GetValue() + s.GetGauge().GetValue()
			if h := s.GetHistogram(); h != nil {
				v = float64(h.GetSampleCount())
			}
			out[strings.Join(labels, ",")] = v
		}
	}
	return out
}

func TestRequestTable(t *testing.T) {
	m := NewMetrics(testOps, 2)
	req := func(n Note, status int, in, out int64) { m.Request(&n, status, in, out, time.Millisecond) }
	req(Note{Op: 1, Bucket: "a"}, 200, 0, 100)
	req(Note{Op: 1, Bucket: "a"}, 200, 0, 50)
	req(Note{Op: 3, Bucket: "a", Narinfo: true}, 404, 0, 0)
	req(Note{Op: 3, Bucket: "a", Narinfo: true}, 200, 0, 7)
	req(Note{Op: 3, Bucket: "a", Narinfo: true}, 304, 0, 0)
	req(Note{Op: 2, Bucket: "b"}, 200, 10, 0)
	req(Note{Op: 2, Bucket: "b"}, 500, 0, 0) // b has its label: any answer counts there
	// Refused, or on a missing bucket: no label of its own.
	req(Note{Op: 1, Bucket: "stranger"}, 403, 0, 0)
	req(Note{Op: 1, Bucket: "missing", NoBucket: true}, 404, 0, 0)
	req(Note{Op: 0, Bucket: "junk"}, 405, 0, 0)
	// The third bucket that exists: past the 2 labels.
	req(Note{Op: 2, Bucket: "c"}, 200, 5, 0)
	req(Note{Op: 1, Bucket: "a"}, 301, 0, 0)
	req(Note{Op: 99}, 200, 0, 0) // an op out of range counts as 0
	req(Note{Op: 2, Bucket: "c", Uploads: 1}, 200, 0, 0)
	req(Note{Op: 2, Bucket: "c", Uploads: -1}, 400, 0, 0) // failed: no change

	got := samples(t, m, "nixbucket_requests_total")
	want := map[string]float64{
		"bucket=a,class=2xx,operation=GetObject,protocol=s3":     2,
		"bucket=a,class=3xx,operation=GetObject,protocol=s3":     1,
		"bucket=a,class=4xx,operation=Narinfo,protocol=nix":      1,
		"bucket=a,class=2xx,operation=Narinfo,protocol=nix":      1,
		"bucket=a,class=3xx,operation=Narinfo,protocol=nix":      1,
		"bucket=b,class=2xx,operation=PutObject,protocol=s3":     1,
		"bucket=b,class=5xx,operation=PutObject,protocol=s3":     1,
		"bucket=other,class=4xx,operation=GetObject,protocol=s3": 2,
		"bucket=other,class=2xx,operation=PutObject,protocol=s3": 2,
		"bucket=other,class=4xx,operation=PutObject,protocol=s3": 1,
		"bucket=,class=2xx,operation=Unknown,protocol=s3":        1,
		"bucket=other,class=4xx,operation=Unknown,protocol=s3":   1,
	}
	if !equal(got, want) {
		t.Errorf("requests:\n got %v\nwant %v", got, want)
	}
	if got, want := samples(t, m, "nixbucket_sent_bytes_total"), map[string]float64{"bucket=a,protocol=s3": 150, "bucket=a,protocol=nix": 7}; !equal(got, want) {
		t.Errorf("sent bytes: got %v, want %v", got, want)
	}
	if got, want := samples(t, m, "nixbucket_received_bytes_total"), map[string]float64{"bucket=b,protocol=s3": 10, "bucket=other,protocol=s3": 5}; !equal(got, want) {
		t.Errorf("received bytes: got %v, want %v", got, want)
	}
	if got, want := samples(t, m, "nixbucket_narinfo_lookups_total"), map[string]float64{"bucket=a,result=hit": 2, "bucket=a,result=miss": 1}; !equal(got, want) {
		t.Errorf("narinfo lookups: got %v, want %v", got, want)
	}
	if got, want := samples(t, m, "nixbucket_request_duration_seconds"), map[string]float64{
		"operation=GetObject,protocol=s3": 5, "operation=PutObject,protocol=s3": 5,
		"operation=Narinfo,protocol=nix": 3, "operation=Unknown,protocol=s3": 2,
	}; !equal(got, want) {
		t.Errorf("latency sample counts: got %v, want %v", got, want)
	}
	if got := samples(t, m, "nixbucket_multipart_uploads_open"); got[""] != 1 {
		t.Errorf("uploads open: got %v, want 1", got)
	}

	// A refresh: existing buckets take the free labels (none left here),
	// the rest sum into other, the open uploads are corrected.
	m.SetUsage([]meta.Usage{
		{Bucket: "a", Objects: 3, Bytes: 300, Paths: 1},
		{Bucket: "c", Objects: 1, Bytes: 10, Uploads: 2},
		{Bucket: "d", Objects: 2, Bytes: 20, Paths: 2, Uploads: 1},
	})
	if got, want := samples(t, m, "nixbucket_bucket_objects"), map[string]float64{"bucket=a": 3, "bucket=other": 3}; !equal(got, want) {
		t.Errorf("objects after refresh: got %v, want %v (b is gone)", got, want)
	}
	if got, want := samples(t, m, "nixbucket_bucket_bytes"), map[string]float64{"bucket=a": 300, "bucket=other": 30}; !equal(got, want) {
		t.Errorf("bytes after refresh: got %v, want %v", got, want)
	}
	if got := samples(t, m, "nixbucket_multipart_uploads_open"); got[""] != 3 {
		t.Errorf("uploads open after refresh: got %v, want 3", got)
	}
}

// TestBucketsFirstSeen: labels go to the first buckets seen, whether by
// a request or by a refresh.
func TestBucketsFirstSeen(t *testing.T) {
	m := NewMetrics(testOps, 2)
	m.SetUsage([]meta.Usage{{Bucket: "z", Objects: 1}})
	m.Request(&Note{Op: 1, Bucket: "y"}, 200, 0, 0, 0)
	m.Request(&Note{Op: 1, Bucket: "a"}, 200, 0, 0, 0)
	got := samples(t, m, "nixbucket_requests_total")
	want := map[string]float64{
		"bucket=y,class=2xx,operation=GetObject,protocol=s3":     1,
		"bucket=other,class=2xx,operation=GetObject,protocol=s3": 1,
	}
	if !equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestRequestAllocs: counting a request allocates nothing once its
// histogram is resolved.
func TestRequestAllocs(t *testing.T) {
	m := NewMetrics(testOps, 100)
	n := &Note{Op: 3, Bucket: "cache", Narinfo: true}
	m.Request(n, 200, 0, 10, time.Millisecond)
	if a := testing.AllocsPerRun(100, func() { m.Request(n, 200, 0, 10, time.Millisecond) }); a != 0 {
		t.Errorf("Request allocates %v times, want 0", a)
	}
}

// TestExposition: the output is the text format, and lints clean.
func TestExposition(t *testing.T) {
	m := NewMetrics(testOps, 100)
	m.Request(&Note{Op: 3, Bucket: "cache", Narinfo: true}, 200, 0, 10, time.Millisecond)
	m.AuthFailure("key_rejected")
	m.GC(1, 3, 100)
	m.Lifecycle(2, 1, 50)
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	rec := &fakeWriter{h: http.Header{}}
	r, _ := http.NewRequest("GET", "/-/metrics", nil)
	m.Handler().ServeHTTP(rec, r)
	body := rec.b.String()
	for _, want := range []string{
		"# TYPE nixbucket_requests_total counter",
		`nixbucket_requests_total{bucket="cache",class="2xx",operation="Narinfo",protocol="nix"} 1`,
		`nixbucket_auth_failures_total{reason="key_rejected"} 1`,
		"nixbucket_gc_removed_objects_total 3",
		"nixbucket_lifecycle_removed_bytes_total 50",
		"nixbucket_access_log_dropped_total 0",
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("exposition lacks %q:\n%s", want, body)
		}
	}
}

func equal(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

type fakeWriter struct {
	h      http.Header
	b      strings.Builder
	status int
}

func (f *fakeWriter) Header() http.Header         { return f.h }
func (f *fakeWriter) Write(p []byte) (int, error) { return f.b.Write(p) }
func (f *fakeWriter) WriteHeader(code int)        { f.status = code }

func TestTraffic(t *testing.T) {
	m := NewMetrics(testOps, 1)
	m.Request(&Note{Op: 1, Bucket: "a"}, 200, 0, 100, 0)
	m.Request(&Note{Op: 2, Bucket: "a"}, 200, 7, 0, 0)
	m.Request(&Note{Op: 1, Bucket: "b"}, 200, 0, 5, 0)
	got := m.Traffic()
	want := []Traffic{{Bucket: "a", Requests: 2, BytesIn: 7, BytesOut: 100}, {Bucket: OtherBucket, Requests: 1, BytesOut: 5}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Traffic() = %+v, want %+v", got, want)
	}
}

// TestBucketsGoneFreeLabels: a deleted bucket's label sets go at the
// second refresh that no longer lists it, and its label is free for the
// buckets created later, however many came and went before.
func TestBucketsGoneFreeLabels(t *testing.T) {
	m := NewMetrics(testOps, 3)
	live := []meta.Usage{{Bucket: "keep", Objects: 1}}
	for i := range 10 {
		name := fmt.Sprintf("tmp%d", i)
		m.Request(&Note{Op: 2, Bucket: name}, 200, 5, 0, 0)
		m.SetUsage(append(live, meta.Usage{Bucket: name}))
		m.SetUsage(live) // deleted: its slot was made before the previous refresh
	}
	m.Request(&Note{Op: 1, Bucket: "new"}, 200, 0, 3, 0)
	m.Request(&Note{Op: 1, Bucket: "keep"}, 200, 0, 4, 0)
	got := samples(t, m, "nixbucket_sent_bytes_total")
	want := map[string]float64{"bucket=new,protocol=s3": 3, "bucket=keep,protocol=s3": 4}
	if !equal(got, want) {
		t.Errorf("sent bytes after 10 buckets came and went: got %v, want %v", got, want)
	}
	if got := samples(t, m, "nixbucket_received_bytes_total"); len(got) != 0 {
		t.Errorf("the deleted buckets' counters are still reported: %v", got)
	}
	// A slot made after the previous refresh survives a refresh that does
	// not list its bucket yet (the bucket may be newer than the refresh's
	// read), and goes at the next one.
	m.SetUsage(live)
	m.Request(&Note{Op: 1, Bucket: "newer"}, 200, 0, 9, 0)
	m.SetUsage(live)
	if got := samples(t, m, "nixbucket_sent_bytes_total"); got["bucket=newer,protocol=s3"] != 9 {
		t.Errorf("a bucket newer than the refresh lost its label at once: %v", got)
	}
	m.SetUsage(live)
	if got := samples(t, m, "nixbucket_sent_bytes_total"); len(got) != 1 {
		t.Errorf("after two refreshes without new and newer: got %v, want keep's alone", got)
	}
}

// TestBucketNamedOther: a bucket named "other" shares the label of the
// overflow and the missing buckets instead of a second series with the
// same labels, which made every Gather fail.
func TestBucketNamedOther(t *testing.T) {
	m := NewMetrics(testOps, 10)
	m.Request(&Note{Op: 1, Bucket: OtherBucket}, 200, 0, 5, 0)
	m.Request(&Note{Op: 1, Bucket: "missing", NoBucket: true}, 200, 0, 0, 0)
	m.SetUsage([]meta.Usage{{Bucket: OtherBucket, Objects: 2}, {Bucket: "a", Objects: 1}})
	if _, err := m.Registry().Gather(); err != nil {
		t.Fatalf("gather: %v", err)
	}
	if got, want := samples(t, m, "nixbucket_requests_total"), map[string]float64{"bucket=other,class=2xx,operation=GetObject,protocol=s3": 2}; !equal(got, want) {
		t.Errorf("requests: got %v, want %v", got, want)
	}
	if got, want := samples(t, m, "nixbucket_bucket_objects"), map[string]float64{"bucket=other": 2, "bucket=a": 1}; !equal(got, want) {
		t.Errorf("objects: got %v, want %v", got, want)
	}
}

// TestBucketsRefreshLargestFirst: a refresh that finds more buckets than
// labels left (a server's first, after a restart) gives them to the
// largest buckets, not to the first names in alphabetical order: a
// restart must not fold the main cache into other because a few small
// buckets sort before it.
func TestBucketsRefreshLargestFirst(t *testing.T) {
	m := NewMetrics(testOps, 2)
	m.SetUsage([]meta.Usage{
		{Bucket: "aaa-ci-1", Objects: 1, Bytes: 6},
		{Bucket: "aaa-ci-2", Objects: 1, Bytes: 6},
		{Bucket: "nix-cache", Objects: 500, Bytes: 40 << 30, Paths: 200},
		{Bucket: "team", Objects: 20, Bytes: 1 << 20},
	})
	got := samples(t, m, "nixbucket_bucket_bytes")
	want := map[string]float64{"bucket=nix-cache": 40 << 30, "bucket=team": 1 << 20, "bucket=other": 12}
	if !equal(got, want) {
		t.Errorf("bucket_bytes after the first refresh: got %v, want %v", got, want)
	}
}
