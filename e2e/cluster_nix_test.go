package e2e

import (
	"slices"
	"strings"
	"testing"
)

// TestClusterNix: Debian's Nix 2.8 pushes a closure over plain HTTP, its
// first path to node A and the rest to node B (which must know the path A
// took, or Nix uploads it again), and substitutes it with signatures
// required from B and then from C, into a store that lacks it each time.
// (Nix 2.8 has no S3 store; newer Nix's s3:// uploads are the S3 API the
// other cluster tests drive.)
func TestClusterNix(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	c := startCluster(t, 3) // the nodes log each request (the access log)
	a, b, cn := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	netrc := nixNetrc(a) // the nodes share the admin key, and netrc ignores ports
	key := c.publicKey(t, nixCacheBucket)
	cl := nixBuildClosure(t, 3, 16, "cluster")

	copyTo := func(s *Server, paths ...string) {
		t.Helper()
		nixMust(t, "nix", append([]string{"copy", "--option", "substituters", "", "--option", "netrc-file", netrc,
			"--to", nixCacheURL(s, nixCacheBucket) + "?compression=zstd"}, paths...)...)
	}
	copyTo(a, cl.Paths[0])
	copyTo(b, cl.Top)
	// B told Nix it has the path A took, and got only the others.
	putOf := func(p string) string {
		return "method=PUT bucket=" + nixCacheBucket + " key=" + nixHashPart(p) + ".narinfo status=200"
	}
	if log := b.logWith(putOf(cl.Top)); strings.Contains(log, putOf(cl.Paths[0])) || !strings.Contains(log, putOf(cl.Top)) {
		t.Errorf("B's requests: want PUT %s but not %s (pushed through A):\n%s", putOf(cl.Top), putOf(cl.Paths[0]), tail(log, 6000))
	}

	out := nixMust(t, "nix", "path-info", "--recursive", "--store", nixCacheURL(cn, nixCacheBucket),
		"--option", "substituters", "", "--option", "netrc-file", netrc, cl.Top)
	got, want := strings.Fields(out), slices.Clone(cl.Paths)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("nix path-info -r through C: %q, want the closure %q", got, want)
	}

	for _, s := range []*Server{b, cn} {
		cl.delete(t)
		nixMustSubstitute(t, nixCacheURL(s, nixCacheBucket), key, netrc, cl.Top)
		cl.checkDumps(t)
	}
}
