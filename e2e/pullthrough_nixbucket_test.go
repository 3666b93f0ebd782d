package e2e

import (
	"testing"
)

// TestPullThroughNixbucketUpstream: a pull-through bucket in front of
// another nixbucket over plain HTTP, both buckets named nix-cache, so both
// servers sign with a key named nix-cache-1. The upstream takes a push by
// Nix 2.8 (zstd NARs, brotli narinfos, gzip listings); Nix 2.8 then
// substitutes through the pull-through bucket trusting only the
// upstream's key, and only the bucket's: the pulled narinfo keeps the
// upstream's signature beside the bucket's, though their names are alike.
func TestPullThroughNixbucketUpstream(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	c := nixBuildClosure(t, 3, 64, "pullnixbucket")
	upS := startServer(t)
	nixAdmin(t, upS, "bucket", "policy", "set", nixCacheBucket, "anonymous-read")
	upKey := nixServerKey(t, upS, nixCacheBucket)
	nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(upS), "--to",
		nixCacheURL(upS, nixCacheBucket)+"?compression=zstd&narinfo-compression=br&ls-compression=gzip&write-nar-listing=1", c.Top)
	s := pullServer(t, nixCacheURL(upS, nixCacheBucket), upKey)
	cache := nixCacheURL(s, nixCacheBucket)
	bucketKey := nixServerKey(t, s, nixCacheBucket)
	if nixPublicKey(t, upKey).Name() != nixPublicKey(t, bucketKey).Name() {
		t.Fatalf("keys %s and %s: want the same name", upKey, bucketKey)
	}
	for _, key := range []string{upKey, bucketKey} {
		c.delete(t)
		nixMustSubstitute(t, cache, key, nixNoNetrc(t), c.Top)
		c.checkDumps(t)
	}
}
