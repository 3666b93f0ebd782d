package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestPullThroughEncodedS3Upstream: an S3 upstream (versitygw, which keeps
// and answers a stored Content-Encoding as AWS does) holding a cache pushed
// with narinfo-compression=xz and ls-compression=br, the options Nix's own
// S3 store takes, so its narinfos and listings come back xz- and
// brotli-encoded. Nix 2.8 substitutes through the pull-through bucket and
// a listing is served decoded. Before, every narinfo was refused as
// unparseable (every path a miss) and listings passed through still
// encoded, with no Content-Encoding.
func TestPullThroughEncodedS3Upstream(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	v := pushVersitygw(t)
	const bucket = "encoded-cache"
	pushCreateBucket(t, v, bucket)
	sec, pub := pushGenerateKey(t, "upstream-encoded-1")
	awsFiles := pushAWSFiles(t, "cache-upload", v.AccessKey, v.Secret, "us-east-1")
	c := nixBuildClosure(t, 2, 64, "pullencoded")
	pushMust(t, pushEnv(t, awsFiles...), "--to", "s3://"+bucket+"?profile=cache-upload&endpoint="+v.Endpoint+
		"&narinfo-compression=xz&ls-compression=br&write-nar-listing=1&secret-key="+sec, c.Top)

	s := startServerEnv(t, t.TempDir(), "http", awsFiles)
	pullSet(t, s, "s3://"+bucket+"?profile=cache-upload&scheme=http&region=us-east-1&endpoint="+strings.TrimPrefix(v.Endpoint, "http://"), pub)
	cache := nixCacheURL(s, nixCacheBucket)
	c.delete(t)
	nixMustSubstitute(t, cache, pub, nixNoNetrc(t), c.Top)
	c.checkDumps(t)
	r := nixHTTP(t, "", http.MethodGet, cache+"/"+nixHashPart(c.Top)+".ls")
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Body, `{"version":1,`) {
		t.Errorf("GET .ls: %d %.60q, want 200 and the JSON listing", r.Status, r.Body)
	}
}
