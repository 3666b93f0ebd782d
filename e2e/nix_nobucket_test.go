package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestNixURLWithoutBucket: a user gives Nix 2.8 the server's URL without
// a bucket (http://HOST:PORT), or with a bucket that does not exist. Nix
// swallows the body of a 404 or 403 to nix-cache-info and of the refused
// PUT that follows, and says only "does not appear to be a binary cache";
// the server answers such a GET 400, whose body Nix prints, naming the
// caches the caller may read. Anonymous callers learn only the public
// ones; S3 clients at / see S3 as before, and nothing is created.
func TestNixURLWithoutBucket(t *testing.T) {
	t.Parallel()
	s := nixStart(t)
	const public = "nobucket-public"
	nixAdmin(t, s, "bucket", "create", public)
	nixAdmin(t, s, "bucket", "policy", "set", public, "anonymous-read")
	c := nixBuildClosure(t, 1, 4, "nobucket")
	privateURL, publicURL := nixCacheURL(s, nixCacheBucket), nixCacheURL(s, public)
	// names reports whether Nix's error names url as a cache, a word of
	// its own (not the prefix of another URL).
	names := func(stderr, url string) bool {
		return regexp.MustCompile(regexp.QuoteMeta(url) + `(\s|$)`).MatchString(stderr)
	}

	for _, to := range []string{s.Endpoint, s.Endpoint + "/", s.Endpoint + "/nix-cahce"} {
		r := nixRun(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s), "--to", to, c.Top)
		if r.Err == nil {
			t.Fatalf("nix copy --to %s succeeded", to)
		}
		if !names(r.Stderr, privateURL) || !names(r.Stderr, publicURL) {
			t.Errorf("nix copy --to %s with the admin's netrc: the error names neither cache URL %s nor %s:\n%s", to, privateURL, publicURL, tail(r.Stderr, 3000))
		}
	}

	// nixbucket use, given a bucket that does not exist, says the same
	// (the root it refuses itself).
	if r := nixRun(t, serverBin, "use", s.Endpoint+"/nix-cahce", "--netrc-file", nixNetrc(s)); r.Err == nil || !names(r.Stderr, privateURL) {
		t.Errorf("nixbucket use %s/nix-cahce: %v, want an error naming %s:\n%s", s.Endpoint, r.Err, privateURL, tail(r.Stderr, 3000))
	}

	// Anonymous: the public cache is named, the private one is not.
	r := nixRun(t, "nix", "path-info", "--store", s.Endpoint, "--option", "netrc-file", nixNoNetrc(t), c.Top)
	if r.Err == nil {
		t.Fatalf("nix path-info --store %s succeeded", s.Endpoint)
	}
	if !names(r.Stderr, publicURL) || names(r.Stderr, privateURL) {
		t.Errorf("anonymous nix path-info --store %s: want the error to name %s and not the private %s:\n%s", s.Endpoint, publicURL, privateURL, tail(r.Stderr, 3000))
	}
	// An anonymous caller learns nothing of a bucket's existence from a
	// missing one: the answer is the one a private bucket gives.
	if a := nixHTTP(t, "", http.MethodGet, s.Endpoint+"/nix-cahce/nix-cache-info"); a.Status != http.StatusUnauthorized {
		t.Errorf("anonymous GET of nix-cache-info in a missing bucket: %d, want 401 as for a private one\n%s", a.Status, a.Body)
	}

	// S3 clients at the root are served S3: ListBuckets, and NoSuchBucket
	// for a bucket named nix-cache-info.
	env := s.clientEnv()
	out := mustRun(t, env, "", "aws", "--endpoint-url", s.Endpoint, "--profile", "nixbucket", "s3", "ls")
	if !hasField(out, nixCacheBucket) || !hasField(out, public) || strings.Contains(out, "nix-cache-info") {
		t.Errorf("aws s3 ls after the bucketless Nix runs: want %s and %s and no nix-cache-info:\n%s", nixCacheBucket, public, out)
	}
	ls := runCmd(t, env, "", "aws", "--endpoint-url", s.Endpoint, "--profile", "nixbucket", "s3api", "list-objects", "--bucket", "nix-cache-info")
	if ls.Err == nil || !strings.Contains(ls.Stderr, "NoSuchBucket") {
		t.Errorf("aws s3api list-objects --bucket nix-cache-info: %v, want NoSuchBucket:\n%s", ls.Err, tail(ls.Stderr, 2000))
	}
	// A bucket named nix-cache-info is S3's to make, and then Nix's root
	// GET is that bucket's listing again, as for any bucket.
	mustRun(t, env, "", "aws", "--endpoint-url", s.Endpoint, "--profile", "nixbucket", "s3", "mb", "s3://nix-cache-info")
	if a := nixHTTP(t, nixNetrc(s), http.MethodGet, s.Endpoint+"/nix-cache-info"); a.Status != http.StatusOK || !strings.Contains(a.Body, "ListBucketResult") {
		t.Errorf("GET /nix-cache-info once a bucket has that name: %d, want its listing\n%s", a.Status, tail(a.Body, 2000))
	}
}

// TestNixURLWithPrefix: a URL with a path under a bucket
// (http://HOST/BUCKET/sub) is no cache nixbucket keeps: what Nix 2.8
// pushed there was stored unsigned, unchecked and unindexed, as plain
// objects, and substituting it with the server's key then failed "not
// signed". Nix's GET of the missing sub/nix-cache-info is answered 400,
// naming the cache; nothing is stored. A nix-cache-info put there by S3
// (a mirror of some other cache) is served as any object.
func TestNixURLWithPrefix(t *testing.T) {
	t.Parallel()
	s := nixStart(t)
	c := nixBuildClosure(t, 1, 4, "prefix")
	cache := nixCacheURL(s, nixCacheBucket)
	r := nixRun(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s), "--to", cache+"/sub?compression=zstd", c.Top)
	if r.Err == nil {
		t.Fatalf("nix copy --to %s/sub succeeded", cache)
	}
	if !regexp.MustCompile(regexp.QuoteMeta(cache) + `(\s|$)`).MatchString(r.Stderr) {
		t.Errorf("nix copy --to %s/sub: the error does not name the cache %s:\n%s", cache, cache, tail(r.Stderr, 3000))
	}
	env := s.clientEnv()
	ls := mustRun(t, env, "", "aws", "--endpoint-url", s.Endpoint, "--profile", "nixbucket", "s3", "ls", "--recursive", "s3://"+nixCacheBucket+"/")
	if strings.Contains(ls, "sub/") {
		t.Errorf("nix copy to a prefix stored objects under it:\n%s", ls)
	}
	info := nixWriteFile(t, "nix-cache-info", []byte("StoreDir: /nix/store\n"))
	mustRun(t, env, "", "aws", "--endpoint-url", s.Endpoint, "--profile", "nixbucket", "s3", "cp", "--no-progress", info, "s3://"+nixCacheBucket+"/mirror/nix-cache-info")
	if a := nixHTTP(t, nixNetrc(s), http.MethodGet, cache+"/mirror/nix-cache-info"); a.Status != http.StatusOK || a.Body != "StoreDir: /nix/store\n" {
		t.Errorf("GET of a nix-cache-info stored under a prefix: %d %q, want 200 and its bytes", a.Status, a.Body)
	}
}
