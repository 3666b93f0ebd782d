package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// pathGen is a generation built by the corpus's make-generation.sh: its
// own layers on a base closure that every generation of the same base tag
// shares.
type pathGen struct {
	Top   string
	Paths []string // the whole closure
	root  string
}

// pathBuildGeneration builds generation gen on base (2 base paths of
// 16 KiB, 2 own layers of 32 KiB) and deletes it from the store when
// the test ends.
func pathBuildGeneration(t *testing.T, gen int, base string) *pathGen {
	t.Helper()
	tmp := t.TempDir()
	script := filepath.Join(sharedDir(t), "corpus", "make-generation.sh")
	r := runCmd(t, append(nixEnv(t), "TMPDIR="+tmp), "", "sh", script, strconv.Itoa(gen), base, "2", "16", "2", "32")
	if r.Err != nil {
		t.Fatalf("make-generation.sh %d %s: %v\n%s", gen, base, r.Err, tail(r.Stderr, 8000))
	}
	g := &pathGen{Top: strings.TrimSpace(r.Stdout)}
	roots, _ := filepath.Glob(filepath.Join(tmp, "*", "result"))
	if len(roots) != 1 {
		t.Fatalf("make-generation.sh left GC roots %v, want one", roots)
	}
	g.root = roots[0]
	g.Paths = strings.Fields(nixMust(t, "nix-store", "--query", "--requisites", g.Top))
	t.Cleanup(func() {
		_ = os.Remove(g.root)
		nixRun(t, "nix-store", append([]string{"--delete"}, g.Paths...)...)
	})
	return g
}

// named returns the path of g's closure whose name ends in suffix.
func (g *pathGen) named(t *testing.T, suffix string) string {
	t.Helper()
	for _, p := range g.Paths {
		if strings.HasSuffix(p, suffix) {
			return p
		}
	}
	t.Fatalf("no path ending in %s in %v", suffix, g.Paths)
	return ""
}

// TestPathDeleteNix pushes two generations sharing a base closure with
// Nix 2.8, and deletes paths with `nixbucket path delete`: a refusal
// naming the referrers, dry runs with their figures, --closure and
// --with-referrers; what remains substitutes with require-sigs, what went
// answers 404.
func TestPathDeleteNix(t *testing.T) {
	t.Parallel()
	s := nixStart(t)
	var rnd [4]byte
	rand.Read(rnd[:])
	base := "nixe2e-pathdel-" + hex.EncodeToString(rnd[:])
	g1, g2 := pathBuildGeneration(t, 1, base), pathBuildGeneration(t, 2, base)
	cache := nixCacheURL(s, nixCacheBucket)
	serverKey := nixServerKey(t, s, nixCacheBucket)
	nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s),
		"--to", cache+"?compression=zstd&write-nar-listing=1", g1.Top, g2.Top)
	// base-layer-0 ← base-layer-1 ← gen-K-0 ← gen-K-1 (each gen path
	// also refers to base-layer-1).
	b0, b1 := g1.named(t, base+"-layer-0"), g1.named(t, base+"-layer-1")
	g10, g11 := g1.named(t, "-gen-1-0"), g1.named(t, "-gen-1-1")
	g20, g21 := g2.named(t, "-gen-2-0"), g2.named(t, "-gen-2-1")
	if n := nixCachePaths(t, s, nixCacheBucket); n != 6 {
		t.Fatalf("bucket holds %d paths, want 6", n)
	}
	status := func(p string) int {
		return nixHTTP(t, nixNetrc(s), http.MethodGet, cache+"/"+nixHashPart(p)+".narinfo").Status
	}
	for _, p := range []string{b0, b1, g10, g11, g20, g21} {
		if st := status(p); st != http.StatusOK { // the server remembers these small objects
			t.Fatalf("GET %s narinfo: %d", p, st)
		}
	}
	pathDelete := func(wantStatus int, args ...string) (string, string) {
		t.Helper()
		out, errOut, st := verifyRun(t, s, append([]string{"path", "delete", nixCacheBucket}, args...)...)
		if st != wantStatus {
			t.Fatalf("path delete %s: exit %d, want %d\n%s%s", strings.Join(args, " "), st, wantStatus, out, errOut)
		}
		return out, errOut
	}
	lines := func(out, prefix string) []string {
		var ps []string
		for l := range strings.Lines(out) {
			if p, ok := strings.CutPrefix(l, prefix); ok && strings.HasPrefix(p, "/nix/store/") {
				ps = append(ps, strings.Fields(p)[0])
			}
		}
		return ps
	}
	narBytes := func(paths ...string) int64 {
		var n int64
		for _, p := range paths {
			n += int64(nixGetNarinfo(t, s, nixCacheBucket, p).FileSize)
		}
		return n
	}

	t.Run("refused", func(t *testing.T) {
		_, errOut := pathDelete(1, b1)
		for _, w := range []string{"refusing", b1 + " is referred to by", g10, g11, g20, g21} {
			if !strings.Contains(errOut, w) {
				t.Errorf("refusal lacks %q:\n%s", w, errOut)
			}
		}
		if strings.Contains(errOut, b0) {
			t.Errorf("refusal names %s, which only refers to nothing deleted:\n%s", b0, errOut)
		}
		if st := status(b1); st != http.StatusOK {
			t.Errorf("after a refusal: GET %s narinfo %d, want 200", b1, st)
		}
	})

	t.Run("dry-run", func(t *testing.T) {
		out, _ := pathDelete(0, b1, "--with-referrers", "--dry-run")
		got := lines(out, "would delete ")
		// Referrers before references.
		if len(got) != 5 || got[4] != b1 || !slices.Contains(got, g11) || slices.Index(got, g11) > slices.Index(got, g10) ||
			slices.Index(got, g21) > slices.Index(got, g20) {
			t.Errorf("dry run lists %v, want gen-*-1 before gen-*-0 before %s", got, b1)
		}
		want := "would delete 5 paths: 5 narinfos"
		nars := "5 NARs (" + human(narBytes(b1, g10, g11, g20, g21)) + ")"
		if !strings.Contains(out, want) || !strings.Contains(out, nars) {
			t.Errorf("dry run figures lack %q and %q:\n%s", want, nars, out)
		}
		// --closure adds base-layer-0, which only base-layer-1 kept, once
		// it is older than the grace: pushed just now, a push in flight
		// might still refer to it.
		out, _ = pathDelete(0, b1, "--with-referrers", "--closure", "--dry-run")
		if !strings.Contains(out, "kept "+b0+"  (pushed within 1h0m0s") || !strings.Contains(out, "would delete 5 paths") {
			t.Errorf("dry run with --closure within the grace:\n%s", out)
		}
		out, _ = pathDelete(0, b1, "--with-referrers", "--closure", "--grace", "0s", "--dry-run")
		if !strings.Contains(out, "would delete "+b0+"  (only deleted paths kept it)") || !strings.Contains(out, "would delete 6 paths") {
			t.Errorf("dry run with --closure:\n%s", out)
		}
		if n := nixCachePaths(t, s, nixCacheBucket); n != 6 {
			t.Errorf("after dry runs the bucket holds %d paths, want 6", n)
		}
	})

	t.Run("pinned", func(t *testing.T) {
		// A pin keeps its path: deleting it is refused, naming the pin,
		// and --closure leaves it, with what it keeps.
		nixAdmin(t, s, "pin", "add", nixCacheBucket, "keep-me", g10)
		_, errOut := pathDelete(1, g10, "--with-referrers", "--dry-run")
		if !strings.Contains(errOut, g10+" is pinned by keep-me") {
			t.Errorf("deleting a pinned path: the refusal does not name its pin:\n%s", errOut)
		}
		out, _ := pathDelete(0, g11, "--closure", "--grace", "0s", "--dry-run")
		if got := lines(out, "would delete "); !slices.Equal(got, []string{g11}) || !strings.Contains(out, "kept "+g10+"  (pinned: keep-me)") {
			t.Errorf("--closure of a pinned path's referrer: would delete %v, want only %s and %s kept as pinned\n%s", got, g11, g10, out)
		}
		nixAdmin(t, s, "pin", "remove", nixCacheBucket, "keep-me")
	})

	t.Run("closure", func(t *testing.T) {
		// Generation 1's own paths go; the base stays, generation 2 keeps it.
		out, _ := pathDelete(0, g11, "--closure", "--grace", "0s")
		if got := lines(out, "deleted "); !slices.Equal(got, []string{g11, g10}) {
			t.Errorf("deleted %v, want [%s %s]\n%s", got, g11, g10, out)
		}
		for _, p := range []string{g10, g11} {
			if st := status(p); st != http.StatusNotFound {
				t.Errorf("GET %s narinfo after delete: %d, want 404", p, st)
			}
		}
		verifyWant(t, s, 0, []string{"verify nix-cache: 4 narinfos", "clean: no problems"})
		// Generation 2 substitutes, with signatures required, into an
		// emptied store; generation 1 no longer does.
		for _, g := range []*pathGen{g1, g2} {
			_ = os.Remove(g.root)
		}
		nixMust(t, "nix-store", append([]string{"--delete"}, append(slices.Clone(g1.Paths), g21, g20)...)...)
		nixMust(t, "nix-store", "--delete", b1, b0)
		nixAbsent(t, append(slices.Clone(g1.Paths), g2.Paths...)...)
		nixMustSubstitute(t, cache, serverKey, nixNetrc(s), g2.Top)
		if r := nixSubstitute(t, cache, serverKey, nixNetrc(s), g1.Top); r.Err == nil {
			t.Errorf("generation 1 substituted after its deletion")
		}
	})

	t.Run("with-referrers", func(t *testing.T) {
		out, _ := pathDelete(0, g20, "--with-referrers")
		if got := lines(out, "deleted "); !slices.Equal(got, []string{g21, g20}) {
			t.Errorf("deleted %v, want [%s %s]\n%s", got, g21, g20, out)
		}
		verifyWant(t, s, 0, []string{"verify nix-cache: 2 narinfos", "clean: no problems"})
		nixMust(t, "nix-store", "--delete", g21, g20, b1, b0)
		nixMustSubstitute(t, cache, serverKey, nixNetrc(s), b1)
		if st := status(g21); st != http.StatusNotFound {
			t.Errorf("GET %s narinfo: %d, want 404", g21, st)
		}
	})
}

// human is cmd/nixbucket's byte count format.
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGTPE"[exp]) + "iB"
}
