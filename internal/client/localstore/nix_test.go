package localstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/nar"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// needNix skips the test when Nix, its database or the corpus script is
// missing, or fails it under CI=true. It returns make-closure.sh.
func needNix(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nix-build", "nix-store"} {
		testenv.Need(t, p)
	}
	if _, err := os.Stat(DefaultDB); err != nil {
		testenv.SkipOrFail(t, "no Nix database: "+err.Error())
	}
	shared := testenv.SharedDir(t)
	script := filepath.Join(shared, "corpus", "make-closure.sh")
	if _, err := os.Stat(script); err != nil {
		testenv.SkipOrFail(t, "corpus script not found: "+err.Error())
	}
	return script
}

// nixOut runs a Nix command and returns its whitespace-separated output.
func nixOut(t *testing.T, name string, args ...string) []string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr)
	}
	return strings.Fields(string(out))
}

// TestRealStore builds a small closure with the corpus script and checks
// everything Closure reads against what nix-store reports, and every
// NarHash and NarSize against a NAR dumped by nar.DumpPath.
func TestRealStore(t *testing.T) {
	script := needNix(t)
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	tag := "localstore-" + hex.EncodeToString(rnd[:])
	tmp := t.TempDir()
	cmd := exec.Command("sh", script, "3", "1", tag)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "XDG_CACHE_HOME="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make-closure.sh: %v", err)
	}
	top := strings.TrimSpace(string(out))
	want := nixOut(t, "nix-store", "--query", "--requisites", top)
	t.Cleanup(func() {
		roots, _ := filepath.Glob(filepath.Join(tmp, "*", "result"))
		for _, r := range roots {
			os.Remove(r)
		}
		drvs := nixOut(t, "nix-store", append([]string{"--query", "--deriver"}, want...)...)
		for _, paths := range [][]string{want, drvs} {
			_ = exec.Command("nix-store", append([]string{"--delete"}, paths...)...).Run()
		}
	})

	ctx := context.Background()
	s, err := Open(ctx, DefaultDB, DefaultStoreDir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	roots, _ := filepath.Glob(filepath.Join(tmp, "*", "result"))
	if len(roots) != 1 {
		t.Fatalf("GC roots %v", roots)
	}
	resolved, err := s.Resolve(roots[0])
	if err != nil || resolved != top {
		t.Fatalf("Resolve(%s) = %q, %v; want %s", roots[0], resolved, err, top)
	}
	infos, err := s.Closure(ctx, []string{top})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, i := range infos {
		got = append(got, i.Path)
	}
	// nix-store -qR lists references before referrers too.
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Closure = %v\nwant (nix-store -qR) %v", got, want)
	}
	for _, i := range infos {
		h, err := nixhash.ParseSHA256(nixOut(t, "nix-store", "--query", "--hash", i.Path)[0])
		if err != nil {
			t.Fatal(err)
		}
		if i.NarHash != h.String() {
			t.Errorf("%s: NarHash %s, nix-store --query --hash says %s", i.Path, i.NarHash, h)
		}
		if size := nixOut(t, "nix-store", "--query", "--size", i.Path)[0]; size != strconv.FormatInt(i.NarSize, 10) {
			t.Errorf("%s: NarSize %d, nix-store --query --size says %s", i.Path, i.NarSize, size)
		}
		refs := nixOut(t, "nix-store", "--query", "--references", i.Path)
		slices.Sort(refs)
		if len(refs) == 0 {
			refs = nil
		}
		if !reflect.DeepEqual(i.References, refs) {
			t.Errorf("%s: References %v, nix-store --query --references says %v", i.Path, i.References, refs)
		}
		if drv := nixOut(t, "nix-store", "--query", "--deriver", i.Path)[0]; drv != i.Deriver {
			t.Errorf("%s: Deriver %q, nix-store --query --deriver says %q", i.Path, i.Deriver, drv)
		}
		hash := sha256.New()
		counter := &countWriter{w: hash}
		if err := nar.DumpPath(counter, i.Path); err != nil {
			t.Fatal(err)
		}
		var sum nixhash.SHA256
		copy(sum[:], hash.Sum(nil))
		if sum.String() != i.NarHash || counter.n != i.NarSize {
			t.Errorf("%s: dumped NAR %s (%d bytes), database says %s (%d bytes)", i.Path, sum, counter.n, i.NarHash, i.NarSize)
		}
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
