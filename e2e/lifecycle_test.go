package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// awsLifecycle is the part of get-bucket-lifecycle-configuration's output
// the test checks.
type awsLifecycle struct {
	Rules []struct {
		ID     string
		Status string
		Filter struct {
			Prefix *string
		}
		Expiration *struct {
			Days int
		}
		AbortIncompleteMultipartUpload *struct {
			DaysAfterInitiation int
		}
	}
}

// TestLifecycleAWSCLI sets a bucket's lifecycle configuration the S3 way,
// with the aws CLI from files: get before any is 404
// NoSuchLifecycleConfiguration; put, then get gives the rules back;
// `bucket set abort-uploads-days` and the whole-bucket abort rule are one
// setting; Expiration where narinfos or NARs live and elements nixbucket
// does not carry out are refused by name; delete removes it all. serve
// sweeps by the rules every --lifecycle-interval and logs its figures.
func TestLifecycleAWSCLI(t *testing.T) {
	t.Parallel()
	need(t, "aws")
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("%s has no abort-uploads-days setting", target)
	}
	s := startServerDir(t, t.TempDir(), "--lifecycle-interval", "200ms")
	env := s.clientEnv()
	dir := t.TempDir()
	aws := func(args ...string) cmdResult {
		t.Helper()
		return runCmd(t, env, dir, "aws", append([]string{"--endpoint-url", s.Endpoint, "--profile", "nixbucket"}, args...)...)
	}
	mustAWS := func(args ...string) string {
		t.Helper()
		r := aws(args...)
		if r.Err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), r.Err, r.Stderr)
		}
		return r.Stdout
	}
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return "file://" + path
	}
	get := func() awsLifecycle {
		t.Helper()
		var lc awsLifecycle
		out := mustAWS("s3api", "get-bucket-lifecycle-configuration", "--bucket", bucketLC)
		if err := json.Unmarshal([]byte(out), &lc); err != nil {
			t.Fatalf("get-bucket-lifecycle-configuration output: %v\n%s", err, out)
		}
		return lc
	}
	refused := func(what string, r cmdResult, says ...string) {
		t.Helper()
		if r.Err == nil {
			t.Errorf("%s: accepted, want a refusal", what)
			return
		}
		for _, w := range says {
			if !strings.Contains(r.Stderr, w) {
				t.Errorf("%s: stderr %q does not say %q", what, r.Stderr, w)
			}
		}
	}

	mustAWS("s3", "mb", "s3://"+bucketLC)
	refused("get before any", aws("s3api", "get-bucket-lifecycle-configuration", "--bucket", bucketLC), "NoSuchLifecycleConfiguration")

	mustAWS("s3api", "put-bucket-lifecycle-configuration", "--bucket", bucketLC, "--lifecycle-configuration", file("lc.json", `{"Rules": [
		{"ID": "scratch", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 3}},
		{"ID": "uploads", "Status": "Enabled", "Filter": {"Prefix": ""}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}
	]}`))
	lc := get()
	if len(lc.Rules) != 2 {
		t.Fatalf("get: %d rules, want 2: %+v", len(lc.Rules), lc)
	}
	r0, r1 := lc.Rules[0], lc.Rules[1]
	if r0.ID != "scratch" || r0.Status != "Enabled" || r0.Filter.Prefix == nil || *r0.Filter.Prefix != "tmp/" ||
		r0.Expiration == nil || r0.Expiration.Days != 3 || r0.AbortIncompleteMultipartUpload != nil {
		t.Errorf("rule 0: %+v", r0)
	}
	if r1.ID != "uploads" || r1.AbortIncompleteMultipartUpload == nil || r1.AbortIncompleteMultipartUpload.DaysAfterInitiation != 2 || r1.Expiration != nil {
		t.Errorf("rule 1: %+v", r1)
	}
	if out := nixAdmin(t, s, "bucket", "info", bucketLC); !strings.Contains(out, "abort-uploads-days: 2\n") {
		t.Errorf("bucket info does not show abort-uploads-days 2 from the rule:\n%s", out)
	}
	nixAdmin(t, s, "bucket", "set", bucketLC, "abort-uploads-days=5")
	if lc := get(); len(lc.Rules) != 2 || lc.Rules[1].AbortIncompleteMultipartUpload == nil || lc.Rules[1].AbortIncompleteMultipartUpload.DaysAfterInitiation != 5 {
		t.Errorf("after bucket set abort-uploads-days=5: %+v, want rule uploads at 5 days", lc)
	}

	for _, prefix := range []string{"", "nar/"} {
		r := aws("s3api", "put-bucket-lifecycle-configuration", "--bucket", bucketLC, "--lifecycle-configuration",
			file("expire.json", `{"Rules": [{"ID": "all", "Status": "Enabled", "Filter": {"Prefix": "`+prefix+`"}, "Expiration": {"Days": 30}}]}`))
		refused("Expiration on "+prefix, r, "InvalidArgument", "nixbucket bucket set BUCKET keep-days=")
	}
	r := aws("s3api", "put-bucket-lifecycle-configuration", "--bucket", bucketLC, "--lifecycle-configuration",
		file("transition.json", `{"Rules": [{"ID": "cold", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]}]}`))
	refused("Transition", r, "NotImplemented", "Transition")
	if lc := get(); len(lc.Rules) != 2 {
		t.Errorf("refused puts changed the configuration: %+v", lc)
	}

	mustAWS("s3api", "delete-bucket-lifecycle", "--bucket", bucketLC)
	refused("get after delete", aws("s3api", "get-bucket-lifecycle-configuration", "--bucket", bucketLC), "NoSuchLifecycleConfiguration")
	if out := nixAdmin(t, s, "bucket", "info", bucketLC); !strings.Contains(out, "abort-uploads-days: 7\n") {
		t.Errorf("bucket info after delete does not show the default 7:\n%s", out)
	}

	// The sweeps run inside serve: wait for one to be logged.
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(s.stderr.String(), "lifecycle sweep") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if out := s.stderr.String(); !strings.Contains(out, "lifecycle sweep") || !strings.Contains(out, "uploads_aborted=0") {
		t.Errorf("serve --lifecycle-interval 200ms logged no sweep with its figures:\n%s", tail(out, 4000))
	}
}

const bucketLC = "lifecycle-e2e"
