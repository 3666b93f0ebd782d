package server

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// sharedS3 is a fresh bucket of the test S3 store (versitygw), as the
// blob store of `serve --blobs`, reached through the AWS default
// credential chain.
type sharedS3 struct {
	url    string // s3://BUCKET/nb?endpoint=…
	store  *testenv.S3
	bucket string
}

func newSharedS3(t *testing.T) sharedS3 {
	t.Helper()
	st := testenv.S3Store(t)
	bucket := st.NewBucket(t)
	for _, kv := range [][2]string{
		{"AWS_ACCESS_KEY_ID", st.AccessKey}, {"AWS_SECRET_ACCESS_KEY", st.SecretKey},
		{"AWS_CONFIG_FILE", "/nonexistent"}, {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"},
		{"AWS_PROFILE", ""}, {"AWS_CA_BUNDLE", ""},
	} {
		t.Setenv(kv[0], kv[1])
	}
	return sharedS3{url: "s3://" + bucket + "/nb?endpoint=" + st.Endpoint, store: st, bucket: bucket}
}

// blobPath is the file in which versitygw keeps blob id.
func (s sharedS3) blobPath(id string) string {
	return s.store.ObjectPath(s.bucket, "nb/blobs/"+id)
}

// node is a server of a scale-out deployment, running its background work.
type node struct {
	srv  *Server
	logs *testenv.LogBuffer
	stop context.CancelFunc
	done chan struct{}
}

// startNode opens a server on its own data directory with opts (Data and
// Log are set here), and runs its background work.
func startNode(t *testing.T, opts Options) *node {
	t.Helper()
	n := &node{logs: &testenv.LogBuffer{}, done: make(chan struct{})}
	if opts.Data == "" {
		opts.Data = t.TempDir()
	}
	opts.Log = slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	n.srv = srv
	ctx, stop := context.WithCancel(context.Background())
	n.stop = stop
	go func() { srv.Run(ctx); close(n.done) }()
	t.Cleanup(n.close)
	return n
}

// close stops the node's background work, then closes the server, as
// `nixbucket serve` does on a stop signal.
func (n *node) close() {
	if n.stop == nil {
		return
	}
	n.stop()
	<-n.done
	n.srv.Close()
	n.stop = nil
}

// runs returns how many times the node ran job, as its log says.
func (n *node) runs(job string) int {
	return strings.Count(n.logs.String(), `msg="background job ran" job=`+job+" ")
}

// waitRuns waits until the node ran each of jobs at least want(job) times.
func waitRuns(t *testing.T, n *node, what string, want func(job string) int, jobs ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, j := range jobs {
		for n.runs(j) < want(j) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: job %s ran %d times, want %d; log:\n%s", what, j, n.runs(j), want(j), n.logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestJobsOnOneNode: two servers on one PostgreSQL and one S3 blob store
// run the GC, lifecycle and sweep jobs on one of them only; once that one
// is closed, the other takes the jobs over.
func TestJobsOnOneNode(t *testing.T) {
	url := testenv.Postgres(t)
	blobs := newSharedS3(t)
	const every = 20 * time.Millisecond
	opts := Options{Meta: url, Blobs: blobs.url, GCInterval: every, LifecycleInterval: every, SweepInterval: every}
	jobs := []string{"gc", "lifecycle", "sweep"}

	a := startNode(t, opts)
	// A bucket with gc=on, so that the GC's own log shows its runs.
	ctx := t.Context()
	if err := a.srv.objects.CreateBucket(ctx, "cache"); err != nil {
		t.Fatal(err)
	}
	if err := a.srv.meta.SetRetention(ctx, "cache", meta.Retention{GC: true, Grace: time.Hour}); err != nil {
		t.Fatal(err)
	}
	waitRuns(t, a, "first node alone", func(string) int { return 1 }, jobs...)

	b := startNode(t, opts)
	before := map[string]int{}
	for _, j := range jobs {
		before[j] = a.runs(j)
	}
	waitRuns(t, a, "first node, beside the second", func(j string) int { return before[j] + 5 }, jobs...)
	logB := b.logs.String()
	for _, j := range jobs {
		if n := b.runs(j); n != 0 {
			t.Errorf("job %s ran %d times on the second node while the first held it", j, n)
		}
	}
	for _, msg := range []string{"this node runs it now", "msg=gc ", `msg="lifecycle sweep"`, `msg="swept the blob store"`} {
		if strings.Contains(logB, msg) {
			t.Errorf("second node's log holds %q while the first node runs the jobs:\n%s", msg, logB)
		}
	}
	logA := a.logs.String()
	for _, msg := range []string{"msg=gc bucket=cache", `msg="lifecycle sweep"`, `msg="swept the blob store"`} {
		if !strings.Contains(logA, msg) {
			t.Errorf("first node's log lacks %q:\n%s", msg, logA)
		}
	}

	a.close()
	waitRuns(t, b, "second node, after the first closed", func(string) int { return 2 }, jobs...)
	logB = b.logs.String()
	if n := strings.Count(logB, "this node runs it now"); n != len(jobs) {
		t.Errorf("second node took %d job locks, want %d:\n%s", n, len(jobs), logB)
	}
	if !strings.Contains(logB, "msg=gc bucket=cache") {
		t.Errorf("second node's log shows no collection of the gc=on bucket:\n%s", logB)
	}
}
