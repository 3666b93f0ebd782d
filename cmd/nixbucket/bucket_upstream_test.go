package main

import (
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/backend"
)

// TestBucketSetUpstreams: bucket set stores the pull-through settings,
// bucket info shows them with their defaults, and bad values are refused
// naming the setting.
func TestBucketSetUpstreams(t *testing.T) {
	data := newData(t)
	env := []string{"NIXBUCKET_DATA=" + data}
	store, err := backend.Open(data, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateBucket(t.Context(), meta.Bucket{Name: "cache", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	if info := run(t, env, "bucket", "info", "cache"); !strings.Contains(info.stdout, "upstreams:       none\n") {
		t.Errorf("bucket info before any upstream:\n%s", info.stdout)
	}
	const key = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="
	if r := run(t, env, "bucket", "set", "cache", "upstreams=https://cache.nixos.org  s3://priv?region=eu-west-2&profile=r",
		"upstream-keys="+key); r.code != 0 {
		t.Fatalf("bucket set: exit %d: %s", r.code, r.stderr)
	}
	info := run(t, env, "bucket", "info", "cache")
	for _, want := range []string{"upstreams:       https://cache.nixos.org s3://priv?region=eu-west-2&profile=r\n",
		"upstream-keys:   " + key + "\n", "upstream-trust:  keys\n", "upstream-negative-ttl: 1h0m0s\n", "upstream-max-conns:    16\n", "upstream-timeout:      3s (narinfo lookups)\n"} {
		if !strings.Contains(info.stdout, want) {
			t.Errorf("bucket info lacks %q:\n%s", want, info.stdout)
		}
	}
	if r := run(t, env, "bucket", "set", "cache", "upstream-trust=any", "upstream-negative-ttl=10m", "upstream-max-conns=4", "upstream-timeout=1500ms"); r.code != 0 {
		t.Fatalf("bucket set: exit %d: %s", r.code, r.stderr)
	}
	info = run(t, env, "bucket", "info", "cache")
	for _, want := range []string{"upstreams:       https://cache.nixos.org", "upstream-trust:  any\n", "upstream-negative-ttl: 10m0s\n", "upstream-max-conns:    4\n", "upstream-timeout:      1.5s (narinfo lookups)\n"} {
		if !strings.Contains(info.stdout, want) {
			t.Errorf("bucket info lacks %q:\n%s", want, info.stdout)
		}
	}
	for _, bad := range []string{"upstreams=ftp://x", "upstreams=s3://b?regoin=x", "upstreams=https://h?token=x",
		"upstream-keys=nokey", "upstream-trust=some", "upstream-negative-ttl=soon", "upstream-max-conns=-1", "upstream-timeout=soon", "upstream-timeout=-1s"} {
		r := run(t, env, "bucket", "set", "cache", bad)
		k, _, _ := strings.Cut(bad, "=")
		if r.code == 0 || !strings.Contains(r.stderr, k) {
			t.Errorf("bucket set %s: exit %d, stderr %q; want a refusal naming %s", bad, r.code, r.stderr, k)
		}
	}
	if r := run(t, env, "bucket", "set", "cache", "upstreams="); r.code != 0 {
		t.Fatalf("bucket set upstreams=: exit %d: %s", r.code, r.stderr)
	}
	if info := run(t, env, "bucket", "info", "cache"); !strings.Contains(info.stdout, "upstreams:       none\n") {
		t.Errorf("bucket info after upstreams=:\n%s", info.stdout)
	}
}
