package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// scaleOutJobs are the background jobs that run on one node at a time.
var scaleOutJobs = []string{"gc", "lifecycle", "sweep"}

// jobRuns counts the runs of job a server logged (at debug level).
func jobRuns(s *Server, job string) int {
	return strings.Count(s.stderr.String(), `msg="background job ran" job=`+job+" ")
}

// waitJobRuns waits until s logged at least want runs of each job.
func waitJobRuns(t *testing.T, s *Server, what string, want func(job string) int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, j := range scaleOutJobs {
		for jobRuns(s, j) < want(j) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: job %s ran %d times, want %d:\n%s", what, j, jobRuns(s, j), want(j), tail(s.stderr.String(), 8000))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestJobsTakeOverKill: two `nixbucket serve` on one PostgreSQL and one
// S3 blob store (versitygw) run the GC, lifecycle and blob-sweep jobs on
// one of them; after a kill -9 of that one, the other takes them over,
// since PostgreSQL frees a dead session's advisory locks.
func TestJobsTakeOverKill(t *testing.T) {
	url := testenv.Postgres(t)
	st := testenv.S3Store(t)
	bucket := st.NewBucket(t)
	env := append(st.Env(), "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_PROFILE=")
	args := []string{"--meta", url, "--blobs", "s3://" + bucket + "/cache?endpoint=" + st.Endpoint, "--log-level", "debug",
		"--gc-interval", "100ms", "--lifecycle-interval", "100ms", "--sweep-interval", "100ms"}
	a := startServerEnv(t, t.TempDir(), "http", env, args...)
	waitJobRuns(t, a, "first server alone", func(string) int { return 1 })
	b := startServerEnv(t, t.TempDir(), "http", env, args...)
	before := map[string]int{}
	for _, j := range scaleOutJobs {
		before[j] = jobRuns(a, j)
	}
	waitJobRuns(t, a, "first server, beside the second", func(j string) int { return before[j] + 3 })
	for _, j := range scaleOutJobs {
		if n := jobRuns(b, j); n != 0 {
			t.Errorf("job %s ran %d times on the second server while the first held it", j, n)
		}
	}
	if strings.Contains(b.stderr.String(), "this node runs it now") {
		t.Errorf("the second server took a job lock while the first holds them:\n%s", tail(b.stderr.String(), 8000))
	}
	// The operator's view: each node's metrics say whether it runs a job.
	jobHeld := func(s *Server, j string) float64 {
		t.Helper()
		v, ok := metricValue(t, s, `nixbucket_job_lock_held{job="`+j+`"}`)
		if !ok {
			t.Fatalf("no nixbucket_job_lock_held series for job %s", j)
		}
		return v
	}
	for _, j := range scaleOutJobs {
		if ha, hb := jobHeld(a, j), jobHeld(b, j); ha != 1 || hb != 0 {
			t.Errorf("job %s: nixbucket_job_lock_held is %v on the holder, %v on the other, want 1 and 0", j, ha, hb)
		}
	}

	a.Kill()
	waitJobRuns(t, b, "second server, after kill -9 of the first", func(string) int { return 2 })
	if n := strings.Count(b.stderr.String(), "this node runs it now"); n != len(scaleOutJobs) {
		t.Errorf("the second server took %d job locks, want %d:\n%s", n, len(scaleOutJobs), tail(b.stderr.String(), 8000))
	}
	for _, j := range scaleOutJobs {
		if v := jobHeld(b, j); v != 1 {
			t.Errorf("job %s: nixbucket_job_lock_held is %v on the node that took it over, want 1", j, v)
		}
	}
}
