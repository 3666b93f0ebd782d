package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// auxNix is a pair of derivations whose outputs carry ELF-style debug
// files under lib/debug/.build-id (top refers to dep), and a
// content-addressed derivation, for index-debug-info and realisations.
const auxNix = `{ tag, depID, topID }:
let
  dep = derivation {
    name = "${tag}-dep";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "echo building dep; /bin/mkdir -p $out/lib/debug/.build-id/${builtins.substring 0 2 depID}; echo dep > $out/lib/debug/.build-id/${builtins.substring 0 2 depID}/${builtins.substring 2 38 depID}.debug" ];
  };
in {
  top = derivation {
    name = "${tag}-top";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "echo building top; /bin/mkdir -p $out/lib/debug/.build-id/${builtins.substring 0 2 topID}; echo ${dep} > $out/lib/debug/.build-id/${builtins.substring 0 2 topID}/${builtins.substring 2 38 topID}.debug" ];
  };
  ca = derivation {
    name = "${tag}-ca";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    __contentAddressed = true;
    outputHashMode = "recursive";
    outputHashAlgo = "sha256";
    args = [ "-c" "echo building ca; echo ${tag} > $out" ];
  };
}
`

// auxHex returns n random lower-case hex digits.
func auxHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// TestNixAuxObjects pushes with Nix 2.8 what a binary cache holds beside
// narinfos and NARs — .ls listings, build logs, debuginfo entries
// (index-debug-info=true) and a CA realisation — and follows them through
// path delete, verify (and --repair), gc with a pin, and migrate: what
// points at a NAR or a path goes with it, verify finds those that point at
// nothing and is clean otherwise, and the kept path keeps all of its own.
func TestNixAuxObjects(t *testing.T) {
	nixNeed(t)
	s := startServer(t)
	cache := nixCacheURL(s, nixCacheBucket)
	netrc := nixNetrc(s)
	serverKey := nixServerKey(t, s, nixCacheBucket)
	tag, depID, topID := "nixe2e-aux-"+auxHex(8), auxHex(40), auxHex(40)
	file := filepath.Join(t.TempDir(), "aux.nix")
	if err := os.WriteFile(file, []byte(auxNix), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{file, "--argstr", "tag", tag, "--argstr", "depID", depID, "--argstr", "topID", topID}
	ca := []string{"--extra-experimental-features", "ca-derivations"}
	build := func(attr string) string {
		return strings.TrimSpace(nixMust(t, "nix-build", append(append([]string{"--no-out-link", "--option", "sandbox", "false",
			"--option", "substituters", "", "-A", attr}, ca...), args...)...))
	}
	top, caPath := build("top"), build("ca")
	paths := strings.Fields(nixMust(t, "nix-store", "--query", "--requisites", top))
	drvs := strings.Fields(nixMust(t, "nix-store", append([]string{"--query", "--deriver"}, paths...)...))
	t.Cleanup(func() {
		nixRun(t, "nix-store", append([]string{"--delete", caPath}, paths...)...)
		nixRun(t, "nix-store", append([]string{"--delete"}, drvs...)...)
	})
	var dep string
	for _, p := range paths {
		if strings.HasSuffix(p, tag+"-dep") {
			dep = p
		}
	}
	if dep == "" {
		t.Fatalf("closure of %s: %v, want a %s-dep", top, paths, tag)
	}
	to := cache + "?write-nar-listing=1&index-debug-info=true&compression=xz"
	nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", netrc, "--to", to, top)
	nixMust(t, "nix", append(append([]string{"copy"}, ca...), append([]string{"--option", "sandbox", "false",
		"--option", "substituters", "", "--option", "netrc-file", netrc, "--to", to, "-f"}, args...)...)...)
	nixMust(t, "nix", append([]string{"store", "copy-log", "--option", "substituters", "", "--option", "netrc-file", netrc,
		"--to", cache}, drvs...)...)

	get := func(key string) curlResponse { return nixHTTP(t, netrc, http.MethodGet, cache+"/"+key) }
	want := func(status int, keys ...string) {
		t.Helper()
		for _, k := range keys {
			if got := get(k).Status; got != status {
				t.Errorf("GET %s: %d, want %d", k, got, status)
			}
		}
	}
	debugKey := func(id string) string { return "debuginfo/" + id + ".debug" }
	narOf := map[string]string{}
	for _, p := range []string{top, dep, caPath} {
		narOf[p] = nixGetNarinfo(t, s, nixCacheBucket, p).URL
	}
	for id, p := range map[string]string{topID: top, depID: dep} {
		r := get(debugKey(id))
		var d struct{ Archive, Member string }
		if r.Status != http.StatusOK || json.Unmarshal([]byte(r.Body), &d) != nil || d.Archive != "../"+narOf[p] {
			t.Fatalf("GET %s: %d %s, want {\"archive\": \"../%s\"}", debugKey(id), r.Status, r.Body, narOf[p])
		}
	}
	want(http.StatusOK, nixHashPart(top)+".ls", nixHashPart(dep)+".ls", "log/"+filepath.Base(drvs[0]), "log/"+filepath.Base(drvs[1]))
	// Served back to Nix: the log, the listing, the realisation.
	if out := nixMust(t, "nix", "log", "--option", "netrc-file", netrc, "--store", cache, top); !strings.Contains(out, "building top") {
		t.Errorf("nix log --store: %q, want the build's output", out)
	}
	if out := nixMust(t, "nix", "store", "ls", "--option", "netrc-file", netrc, "--store", cache, "-R", top+"/lib"); !strings.Contains(out, topID[2:]+".debug") {
		t.Errorf("nix store ls --store: %q, want the debug file", out)
	}
	real := nixMust(t, "nix", append(append([]string{"realisation", "info"}, ca...), append([]string{"--option", "netrc-file", netrc,
		"--store", cache, "-f"}, append(args, "ca")...)...)...)
	drvOut, _, _ := strings.Cut(strings.TrimSpace(real), " ")
	if !strings.HasSuffix(strings.TrimSpace(real), caPath) || !strings.HasPrefix(drvOut, "sha256:") {
		t.Fatalf("nix realisation info --store: %q, want sha256:…!out %s", real, caPath)
	}
	realKey := "realisations/" + drvOut + ".doi"
	want(http.StatusOK, realKey)
	verifyWant(t, s, 0, []string{"clean: no problems"}, "--deep", "--grace", "1ms")
	// What gc counts against max-size is all the cache stores, as the aws
	// CLI lists it: debuginfo entries and the realisation included.
	if need(t, "aws"); true {
		out := mustRun(t, s.clientEnv(), "", "aws", "--endpoint-url", s.Endpoint, "--profile", "nixbucket", "s3api", "list-objects-v2",
			"--bucket", nixCacheBucket, "--query", "sum(Contents[?Key!='nix-cache-info'].Size)", "--output", "text")
		if listed, counted := strings.TrimSpace(out), gcBucketBytes(t, s, nixCacheBucket); listed != strconv.FormatInt(counted, 10) {
			t.Errorf("gc --dry-run counts %d bytes in the bucket; aws s3api list-objects-v2 sums %s", counted, listed)
		}
	}
	// The CA output substitutes with signatures required, building nothing.
	nixMust(t, "nix-store", "--delete", caPath)
	nixMust(t, "nix", append(append([]string{"build"}, ca...), append([]string{"--no-link", "--max-jobs", "0",
		"--option", "substituters", cache, "--option", "trusted-public-keys", serverKey, "--option", "require-sigs", "true",
		"--option", "netrc-file", netrc, "-f"}, append(args, "ca")...)...)...)
	nixMust(t, "nix-store", "--check-validity", caPath)

	t.Run("path delete", func(t *testing.T) {
		out, errOut, st := verifyRun(t, s, "path", "delete", nixCacheBucket, top)
		// Its debuginfo entry, and its realisation (Nix 2.8 records one
		// for every derivation it builds with ca-derivations on).
		if st != 0 || !strings.Contains(out, "2 debuginfo entries and realisations") {
			t.Fatalf("path delete %s: exit %d\n%s%s\nwant its debuginfo entry and realisation counted", top, st, out, errOut)
		}
		want(http.StatusNotFound, nixHashPart(top)+".narinfo", narOf[top], nixHashPart(top)+".ls", debugKey(topID), "log/"+filepath.Base(drvs[len(drvs)-1]))
		want(http.StatusOK, nixHashPart(dep)+".narinfo", debugKey(depID), nixHashPart(dep)+".ls", realKey)
		verifyWant(t, s, 0, []string{"clean: no problems"}, "--grace", "1ms")
	})

	t.Run("verify dangling", func(t *testing.T) {
		dir := t.TempDir()
		strayDebug, strayReal := debugKey(auxHex(40)), "realisations/sha256:"+auxHex(64)+"!out.doi"
		put := func(key, body string) {
			f := filepath.Join(dir, "body")
			if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			nixMustPut(t, netrc, cache+"/"+key, f, "application/json")
		}
		put(strayDebug, `{"archive":"../`+narOf[top]+`","member":"lib/debug/.build-id/xx/y.debug"}`)
		put(strayReal, `{"dependentRealisations":{},"id":"x","outPath":"`+filepath.Base(top)+`","signatures":[]}`)
		verifyWant(t, s, 0, []string{"debuginfo entries and realisations younger than 1h0m0s"})
		verifyWant(t, s, 1, []string{"debuginfo names a missing NAR: 1", strayDebug, "realisation names a missing path: 1", strayReal}, "--grace", "1ms")
		verifyWant(t, s, 0, []string{"removed " + strayDebug, "removed " + strayReal}, "--grace", "1ms", "--repair")
		want(http.StatusNotFound, strayDebug, strayReal)
		want(http.StatusOK, debugKey(depID), realKey)
	})

	t.Run("gc", func(t *testing.T) {
		nixAdmin(t, s, "pin", "add", nixCacheBucket, "dep", dep)
		nixAdmin(t, s, "bucket", "set", nixCacheBucket, "max-size=1", "gc-grace=1s")
		// The collector's clock a minute on: everything is older than the
		// grace, and than the 10 s within which a path used counts as used
		// whatever the grace (meta.UseSlack).
		gcNow := time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano)
		r := runCmd(t, append(nixEnv(t), "NIXBUCKET_GC_NOW="+gcNow), "", serverBin, "gc", nixCacheBucket, "--rest", "0", "--data", s.Dir)
		if r.Err != nil {
			t.Fatalf("nixbucket gc: %v\n%s", r.Err, r.Stderr)
		}
		out := r.Stdout
		// The CA output and its .drv (which `nix realisation info --store`
		// copied there) go; the output's realisation with them.
		if !strings.Contains(out, "removed 2 paths, 2 NARs, 1 listings, 0 logs, 1 debuginfo entries and realisations") {
			t.Errorf("gc:\n%s\nwant the CA path removed with its realisation", out)
		}
		want(http.StatusNotFound, nixHashPart(caPath)+".narinfo", realKey)
		want(http.StatusOK, nixHashPart(dep)+".narinfo", narOf[dep], nixHashPart(dep)+".ls", debugKey(depID), "log/"+filepath.Base(drvs[0]))
		verifyWant(t, s, 0, []string{"clean: no problems"}, "--deep", "--grace", "1ms")
	})

	t.Run("migrate", func(t *testing.T) {
		skipUnlessEmbedded(t, "migrate moves an embedded install to PostgreSQL")
		pg := testenv.Postgres(t)
		s.Stop()
		r := runCmd(t, nixEnv(t), "", serverBin, "migrate", "--from-data", s.Dir, "--to-meta", pg)
		if r.Err != nil {
			t.Fatalf("migrate: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
		}
		s2 := startServerEnv(t, s.Dir, "http", nixEnv(t), "--meta", pg)
		c2 := nixCacheURL(s2, nixCacheBucket)
		for _, k := range []string{nixHashPart(dep) + ".ls", debugKey(depID), "log/" + filepath.Base(drvs[0])} {
			if got := nixHTTP(t, nixNetrc(s2), http.MethodGet, c2+"/"+k); got.Status != http.StatusOK {
				t.Errorf("GET %s from the migrated node: %d", k, got.Status)
			}
		}
		nixMust(t, "nix-store", "--delete", top, dep)
		nixMustSubstitute(t, c2, serverKey, nixNetrc(s2), dep)
	})
}
