package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// gcGeneration is one generation of testdata/gc-generations.nix: its
// closure, top first, then its own lib, then the shared lib and base.
type gcGeneration struct {
	top, own, lib, base string
}

func (g gcGeneration) paths() []string { return []string{g.top, g.own, g.lib, g.base} }

// gcBuild builds generation gen under tag, without a GC root.
func gcBuild(t *testing.T, gen int, tag string) gcGeneration {
	t.Helper()
	expr, err := filepath.Abs(filepath.Join("testdata", "gc-generations.nix"))
	if err != nil {
		t.Fatal(err)
	}
	top := strings.TrimSpace(nixMust(t, "nix-build", "--quiet", "--no-out-link", "--option", "sandbox", "false",
		"--option", "substituters", "", expr, "--argstr", "gen", strconv.Itoa(gen), "--argstr", "tag", tag))
	g := gcGeneration{top: top}
	for _, p := range strings.Fields(nixMust(t, "nix-store", "--query", "--requisites", top)) {
		switch {
		case strings.HasSuffix(p, "-"+tag+"-base"):
			g.base = p
		case strings.HasSuffix(p, "-"+tag+"-lib"):
			g.lib = p
		case strings.HasSuffix(p, "-lib"):
			g.own = p
		}
	}
	if g.base == "" || g.lib == "" || g.own == "" {
		t.Fatalf("closure of %s lacks a path: %+v", top, g)
	}
	return g
}

// gcTag is a tag unique to this run.
func gcTag(name string) string {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return "nixe2e-" + name + "-" + hex.EncodeToString(rnd[:])
}

// gcDelete removes paths from the local store, referrers and references
// together, when they are there.
func gcDelete(t *testing.T, paths ...string) {
	t.Helper()
	var there []string
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			there = append(there, p)
		}
	}
	if len(there) > 0 {
		nixMust(t, "nix-store", append([]string{"--delete"}, there...)...)
	}
	nixAbsent(t, paths...)
}

// gcBlobs counts the server's blob files.
func gcBlobs(t *testing.T, s *Server) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(s.blobDir(), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var gcBytesRE = regexp.MustCompile(`(?m)^bucket \S+: \d+ paths, (\d+) bytes`)

// gcBucketBytes returns what nixbucket gc --dry-run counts in bucket.
func gcBucketBytes(t *testing.T, s *Server, bucket string) int64 {
	t.Helper()
	out := nixAdmin(t, s, "gc", bucket, "--dry-run")
	m := gcBytesRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("gc --dry-run printed no byte count:\n%s", out)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

func gcNarSize(t *testing.T, path string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.TrimSpace(nixMust(t, "nix-store", "--query", "--size", path)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNixGCGenerations: three generations of a closure sharing most of it
// are pushed with nix copy, generation 1 is pinned, and max-size leaves
// room for all but one: the least recently used unpinned one (generation
// 2; generation 1 was pushed before it) goes with its own lib, while
// generations 1 and 3 and the shared paths stay and substitute with
// signatures required, and generation 2's NAR blobs leave the disk.
func TestNixGCGenerations(t *testing.T) {
	t.Parallel()
	s := nixStart(t)
	bucket := nixCacheBucket
	cache := nixCacheURL(s, bucket)
	serverKey := nixServerKey(t, s, bucket)
	tag := gcTag("gcgen")
	var gens [4]gcGeneration
	t.Cleanup(func() {
		var all []string
		for _, g := range gens[1:] {
			if g.top != "" {
				all = append(all, g.top, g.own)
			}
		}
		if gens[1].top != "" {
			all = append(all, gens[1].lib, gens[1].base)
		}
		for _, p := range all {
			nixRun(t, "nix-store", "--delete", p)
		}
	})
	// In order: generation 1 is the least recently used, but pinned, so
	// generation 2 is the one max-size evicts. compression=none makes each
	// NAR's stored size its NarSize.
	var narURLs []string
	for _, n := range []int{1, 2, 3} {
		gens[n] = gcBuild(t, n, tag)
		nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s),
			"--to", cache+"?compression=none&write-nar-listing=1", gens[n].top)
		if n == 2 {
			for _, p := range []string{gens[2].top, gens[2].own} {
				narURLs = append(narURLs, nixGetNarinfo(t, s, bucket, p).URL)
			}
		}
	}
	g1, g2, g3 := gens[1], gens[2], gens[3]
	nixAdmin(t, s, "pin", "add", bucket, "release", g1.top)

	total := gcBucketBytes(t, s, bucket)
	// Over it by generation 2's top and half its own lib: both must go,
	// and nothing more.
	max := total - gcNarSize(t, g2.top) - gcNarSize(t, g2.own)/2
	nixAdmin(t, s, "bucket", "set", bucket, "max-size="+strconv.FormatInt(max, 10), "gc-grace=1s")
	if info := nixAdmin(t, s, "bucket", "info", bucket); !strings.Contains(info, "max-size:        "+strconv.FormatInt(max, 10)) {
		t.Fatalf("bucket info does not show max-size=%d:\n%s", max, info)
	}
	blobs := gcBlobs(t, s)
	// The collector's clock a minute on: the pushes are past the grace
	// period, and past the 10 s within which a path used counts as used
	// whatever the grace (meta.UseSlack).
	gcNow := time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano)
	r := runCmd(t, append(nixEnv(t), "NIXBUCKET_GC_NOW="+gcNow), "", serverBin, "gc", bucket, "--data", s.Dir)
	if r.Err != nil {
		t.Fatalf("nixbucket gc: %v\n%s", r.Err, r.Stderr)
	}
	out := r.Stdout
	t.Logf("nixbucket gc:\n%s", out)
	if !strings.Contains(out, "over max-size: 2 paths, 2 NARs, 2 listings") {
		t.Errorf("gc did not report generation 2's two paths with their NARs and listings over max-size:\n%s", out)
	}
	if got := gcBlobs(t, s); got > blobs-2 {
		t.Errorf("%d blob files after gc, want at most %d (generation 2's NARs gone)", got, blobs-2)
	}
	for _, p := range []string{g2.top, g2.own} {
		url := cache + "/" + nixHashPart(p) + ".narinfo"
		if r := nixHTTP(t, nixNetrc(s), http.MethodGet, url); r.Status != http.StatusNotFound {
			t.Errorf("GET %s (generation 2) after gc: %d, want 404", url, r.Status)
		}
	}
	for _, u := range narURLs {
		if r := nixHTTP(t, nixNetrc(s), http.MethodHead, cache+"/"+u); r.Status != http.StatusNotFound {
			t.Errorf("HEAD %s (generation 2's NAR) after gc: %d, want 404", u, r.Status)
		}
	}
	for _, p := range []string{g1.top, g1.own, g3.top, g3.own, g1.lib, g1.base} {
		url := cache + "/" + nixHashPart(p) + ".narinfo"
		if r := nixHTTP(t, nixNetrc(s), http.MethodHead, url); r.Status != http.StatusOK {
			t.Errorf("HEAD %s after gc: %d, want 200 (%s stays)", url, r.Status, p)
		}
	}

	// Into an emptied store: generations 1 and 3 come back whole, signed;
	// generation 2 does not.
	gcDelete(t, g1.top, g2.top, g3.top, g1.own, g2.own, g3.own, g1.lib, g1.base)
	nixMustSubstitute(t, cache, serverKey, nixNetrc(s), g1.top, g3.top)
	if r := nixSubstitute(t, cache, serverKey, nixNetrc(s), g2.top); r.Err == nil {
		t.Errorf("generation 2 (%s) still substitutes after gc", g2.top)
	}
}

// TestNixGCPushRace: a push in flight when a GC runs. Its NARs are up
// (Nix uploads them first), not yet its narinfos; the GC removes an
// orphan NAR older than the grace period but keeps the young ones; then
// the narinfos go up, each accepted, and the closure substitutes with
// signatures required. The collector's clock is set (NIXBUCKET_GC_NOW) so
// that the grace period ends between the two uploads, without sleeping
// for it.
func TestNixGCPushRace(t *testing.T) {
	t.Parallel()
	s := nixStart(t)
	bucket := nixCacheBucket
	cache := nixCacheURL(s, bucket)
	serverKey := nixServerKey(t, s, bucket)
	push := gcBuild(t, 1, gcTag("gcrace"))
	left := gcBuild(t, 1, gcTag("gcleft"))
	t.Cleanup(func() {
		for _, p := range append(push.paths(), left.paths()...) {
			nixRun(t, "nix-store", "--delete", p)
		}
	})
	pushDir := nixFileCache(t, "compression=none", push.top)
	leftDir := nixFileCache(t, "compression=none", left.top)
	narinfoOf := func(dir, p string) (string, string) {
		file := filepath.Join(dir, nixHashPart(p)+".narinfo")
		return file, nixReadNarinfo(t, file).URL
	}

	// A NAR left by a push that died long ago.
	_, leftURL := narinfoOf(leftDir, left.top)
	nixMustPut(t, nixNetrc(s), cache+"/"+leftURL, filepath.Join(leftDir, leftURL), "application/x-nix-nar")
	time.Sleep(10 * time.Millisecond) // the clocks' order: left's NAR, then mid, then the push
	mid := time.Now()
	time.Sleep(10 * time.Millisecond)
	// The push in flight: references first, NARs before narinfos.
	order := strings.Fields(nixMust(t, "nix-store", "--query", "--requisites", push.top))
	for _, p := range order {
		_, url := narinfoOf(pushDir, p)
		nixMustPut(t, nixNetrc(s), cache+"/"+url, filepath.Join(pushDir, url), "application/x-nix-nar")
	}

	// The GC, an hour after mid, with an hour's grace: left's NAR is past
	// it, the push's NARs are not.
	r := runCmd(t, append(nixEnv(t), "NIXBUCKET_GC_NOW="+mid.Add(time.Hour).UTC().Format(time.RFC3339Nano)), "",
		serverBin, "gc", bucket, "--data", s.Dir)
	if r.Err != nil {
		t.Fatalf("nixbucket gc: %v\n%s", r.Err, r.Stderr)
	}
	t.Logf("nixbucket gc:\n%s", r.Stdout)
	if !strings.Contains(r.Stdout, "orphan:        0 paths, 1 NARs") {
		t.Errorf("gc did not report the one orphan NAR:\n%s", r.Stdout)
	}
	if resp := nixHTTP(t, nixNetrc(s), http.MethodHead, cache+"/"+leftURL); resp.Status != http.StatusNotFound {
		t.Errorf("HEAD %s (the old orphan NAR) after gc: %d, want 404", leftURL, resp.Status)
	}

	// The push goes on: every narinfo is accepted, its NAR still there.
	for _, p := range order {
		file, _ := narinfoOf(pushDir, p)
		nixMustPut(t, nixNetrc(s), cache+"/"+nixHashPart(p)+".narinfo", file, "text/x-nix-narinfo")
	}
	gcDelete(t, push.paths()...)
	nixMustSubstitute(t, cache, serverKey, nixNetrc(s), push.top)
}
