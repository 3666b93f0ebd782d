package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// repeats returns how many answers s gave again without its handler
// (nixbucket_repeated_answers_total).
func repeats(t *testing.T, s *Server) float64 {
	t.Helper()
	return blobCacheMetric(t, s, "nixbucket_repeated_answers_total")
}

// anonGet sends an anonymous GET with the same head every time (Go's
// client: Host, User-Agent, Accept-Encoding), and fails unless the answer
// has status want; it returns the answer.
func anonGet(t *testing.T, cl *rawS3, s *Server, path string, want int) rawResp {
	t.Helper()
	r, err := cl.send(t.Context(), http.MethodGet, s.Endpoint, path, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if r.Status != want {
		t.Fatalf("GET %s: %v, want %d", path, r, want)
	}
	return r
}

// TestAnonymousMissRepeated: a public cache gives its repeated anonymous
// misses their kept answer again (the fast lane's encores), each under a
// request id of its own, logged and counted as the first; and never once
// something that would change the answer happened: the key uploaded (the
// next GET is a 200 at once), the bucket's policy changed (the next GET is
// the new policy's 404), the key uploaded through another node of a
// cluster (TestClusterMissRepeated).
func TestAnonymousMissRepeated(t *testing.T) {
	t.Parallel()
	setupTarget(t)
	if target != targetNixbucket {
		t.Skip("the fast lane is nixbucket's")
	}
	s := startServer(t)
	nixAdmin(t, s, "bucket", "policy", "set", nixCacheBucket, "anonymous-read")
	anon, root := newRawS3("", ""), newRawS3(s.AccessKey, s.SecretKey)
	defer anon.close()
	defer root.close()

	narinfo := "/" + nixCacheBucket + "/" + strings.Repeat("0a", 16) + ".narinfo"
	before := repeats(t, s)
	ids := map[string]bool{}
	// Until two were repeats: the fast lane keeps the second one's answer,
	// and on PostgreSQL a node trusts what it keeps only once its change
	// listener has been up for a moment.
	n := 0
	for ; n < 6 || repeats(t, s)-before < 2; n++ {
		if n == 1000 {
			t.Fatalf("%v of %d identical misses were repeats", repeats(t, s)-before, n)
		}
		if n >= 6 {
			time.Sleep(10 * time.Millisecond) // paced, not timed: the listener's moment passes
		}
		r := anonGet(t, anon, s, narinfo, http.StatusForbidden)
		id := r.Header.Get("X-Amz-Request-Id")
		if id == "" || ids[id] || r.Header.Get("X-Amz-Id-2") != id {
			t.Fatalf("request %d: request id %q (x-amz-id-2 %q), ids before %v", n, id, r.Header.Get("X-Amz-Id-2"), ids)
		}
		ids[id] = true
		if !strings.Contains(string(r.Body), "AccessDenied") {
			t.Fatalf("request %d: body %q", n, r.Body)
		}
	}
	// Every request is in the access log, each under its own id, and in
	// the metrics.
	log := s.logWithCount("key="+strings.TrimPrefix(narinfo, "/"+nixCacheBucket+"/"), n)
	for id := range ids {
		if !strings.Contains(log, "id="+id) {
			t.Errorf("request id %s is not in the access log", id)
		}
	}
	if got := blobCacheMetric(t, s, `nixbucket_requests_total{bucket="nix-cache",class="4xx",operation="Narinfo",protocol="nix"}`); got != float64(n) {
		t.Errorf("Narinfo 4xx requests counted: %v, want %d", got, n)
	}

	t.Run("upload", func(t *testing.T) {
		key := "/" + nixCacheBucket + "/repeat/absent.txt"
		for range 4 {
			anonGet(t, anon, s, key, http.StatusForbidden)
		}
		root.must(t, http.StatusOK, http.MethodPut, s.Endpoint, key, []byte("here now"))
		if r := anonGet(t, anon, s, key, http.StatusOK); string(r.Body) != "here now" {
			t.Fatalf("GET after the upload: %v", r)
		}
	})
	t.Run("policy", func(t *testing.T) {
		key := "/" + nixCacheBucket + "/repeat/listed.txt"
		for range 4 {
			anonGet(t, anon, s, key, http.StatusForbidden)
		}
		// Anonymous callers may now list: a miss is a 404.
		policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",
			"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::%[1]s","arn:aws:s3:::%[1]s/*"]}]}`, nixCacheBucket)
		root.must(t, http.StatusNoContent, http.MethodPut, s.Endpoint, "/"+nixCacheBucket+"?policy", []byte(policy))
		anonGet(t, anon, s, key, http.StatusNotFound)
		anonGet(t, anon, s, key, http.StatusNotFound)
		// A condition on the caller's address: its answers are never kept.
		policy = fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",
			"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::%[1]s","arn:aws:s3:::%[1]s/*"],
			"Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}}]}`, nixCacheBucket)
		root.must(t, http.StatusNoContent, http.MethodPut, s.Endpoint, "/"+nixCacheBucket+"?policy", []byte(policy))
		before := repeats(t, s)
		for range 4 {
			anonGet(t, anon, s, key, http.StatusNotFound)
		}
		if got := repeats(t, s) - before; got != 0 {
			t.Fatalf("%v answers under a conditional policy were repeats", got)
		}
	})
}

// TestClusterMissRepeated: a node that gives a repeated miss again stops
// the moment another node acknowledges an upload of the key.
func TestClusterMissRepeated(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 2)
	a, b := c.Nodes[0], c.Nodes[1]
	c.admin(t, "bucket", "policy", "set", nixCacheBucket, "anonymous-read")
	anon, root := newRawS3("", ""), newRawS3(a.AccessKey, a.SecretKey)
	defer anon.close()
	defer root.close()
	for round := range 3 {
		key := fmt.Sprintf("/%s/repeat/%d.txt", nixCacheBucket, round)
		// Until B repeats the miss: a node trusts what it keeps only once
		// its change listener has been up for a moment.
		before, tries := repeats(t, b), 0
		for ; repeats(t, b) == before; tries++ {
			if tries == 1000 {
				t.Fatalf("round %d: no repeat among %d identical misses through node B", round, tries)
			}
			anonGet(t, anon, b, key, http.StatusForbidden)
			time.Sleep(10 * time.Millisecond)
		}
		body := fmt.Appendf(nil, "round %d", round)
		root.must(t, http.StatusOK, http.MethodPut, a.Endpoint, key, body)
		if r := anonGet(t, anon, b, key, http.StatusOK); string(r.Body) != string(body) {
			t.Fatalf("round %d: GET through B after the upload through A: %v", round, r)
		}
	}
}
