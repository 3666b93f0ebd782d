package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPushCompressionLevel checks compression-level as Nix 2.8 takes it.
// A level out of the method's range is refused once, before push touches
// the cache (it was refused per path, as each was compressed, after the
// cache had been opened and its nix-cache-info written). With
// compression=none the level is ignored, as `nix copy` ignores it (push
// refused every path: "none level 3 out of range (1…0…)").
func TestPushCompressionLevel(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	env := pushEnv(t)
	c := nixBuildClosure(t, 3, 1, "push-level")

	bad := filepath.Join(t.TempDir(), "cache")
	r := pushRun(t, env, "--to", "file://"+bad+"?compression-level=30", c.Top)
	if r.Err == nil || strings.Count(r.Stderr, "zstd level 30 out of range") != 1 || !strings.Contains(r.Stderr, "compression-level") {
		t.Errorf("push with compression-level=30 exited with %v, want one error naming compression-level\n%s", r.Err, tail(r.Stderr, 4000))
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("push with a bad compression-level made the cache %s (%v), want it untouched", bad, err)
	}

	const params = "compression=none&compression-level=3"
	nixFileCache(t, params, c.Top) // Nix takes it
	sec, pub := pushGenerateKey(t, "push-e2e-level-1")
	dir := t.TempDir()
	paths, sum := pushMust(t, env, "--to", "file://"+dir+"?"+params+"&secret-key="+sec, c.Top)
	pushWantAll(t, "push with "+params, c, paths, sum, "pushed")
	c.delete(t)
	nixMustSubstitute(t, "file://"+dir, pub, nixNoNetrc(t), c.Top)
	c.checkDumps(t)
}
