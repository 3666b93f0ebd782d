package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hookBuild builds a two-path closure of shared/corpus/closure.nix with
// nix-build and contrib/post-build-hook.sh as the post-build hook, with
// env (the hook's settings) added to the environment Nix passes the hook.
// It returns the closure's paths, deleted from the store when the test
// ends, and nix-build's result.
func hookBuild(t *testing.T, env ...string) ([]string, cmdResult) {
	t.Helper()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	tag := "nixe2e-hook-" + hex.EncodeToString(rnd[:])
	out := filepath.Join(t.TempDir(), "result")
	hook := filepath.Join(repoRoot, "contrib", "post-build-hook.sh")
	if _, err := os.ReadFile(hook); err != nil { // also lets go test's cache see the script
		t.Fatal(err)
	}
	r := runCmd(t, append(nixEnv(t), env...), "", "nix-build",
		"--option", "sandbox", "false", "--option", "substituters", "",
		"--option", "post-build-hook", hook,
		filepath.Join(sharedDir(t), "corpus", "closure.nix"),
		"--argstr", "n", "2", "--argstr", "kib", "4", "--argstr", "tag", tag, "-o", out)
	top, err := filepath.EvalSymlinks(out)
	if err != nil {
		// The hook may fail the build after the outputs are made.
		top = strings.TrimSpace(r.Stdout)
	}
	var paths []string
	if top != "" {
		paths = strings.Fields(nixMust(t, "nix-store", "--query", "--requisites", top))
	}
	t.Cleanup(func() {
		_ = os.Remove(out)
		if len(paths) == 0 {
			return
		}
		drvs := strings.Fields(nixMust(t, "nix-store", append([]string{"--query", "--deriver"}, paths...)...))
		for _, ps := range [][]string{paths, drvs} {
			if r := nixRun(t, "nix-store", append([]string{"--delete"}, ps...)...); r.Err != nil {
				t.Logf("cleanup: nix-store --delete: %v\n%s", r.Err, tail(r.Stderr, 2000))
			}
		}
	})
	return paths, r
}

// TestPostBuildHook runs the shipped hook as the README documents it,
// under Nix 2.8, whose OUT_PATHS is empty (NixOS/nix#6446): every output
// built must land in the cache, over S3 with the first start's
// credentials and over plain HTTP with its netrc.
func TestPostBuildHook(t *testing.T) {
	s := nixStart(t)
	variants := map[string][]string{
		"s3": {
			"CACHE_URL=s3://" + nixCacheBucket + "?endpoint=" + s.Addr + "&scheme=http&profile=nixbucket",
			"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(s.Dir, "credentials"),
		},
		"http": {
			"CACHE_URL=" + nixCacheURL(s, nixCacheBucket),
			"NETRC_FILE=" + nixNetrc(s),
		},
	}
	for name, env := range variants {
		t.Run(name, func(t *testing.T) {
			paths, r := hookBuild(t, append(env, "NIXBUCKET="+serverBin)...)
			if r.Err != nil {
				t.Fatalf("nix-build with the post-build hook: %v\n%s", r.Err, tail(r.Stderr, 8000))
			}
			if len(paths) != 2 {
				t.Fatalf("closure %v, want 2 paths", paths)
			}
			for _, p := range paths {
				url := fmt.Sprintf("%s/%s.narinfo", nixCacheURL(s, nixCacheBucket), nixHashPart(p))
				if resp := nixHTTP(t, nixNetrc(s), http.MethodGet, url); resp.Status != http.StatusOK {
					t.Errorf("GET %s after the hook pushed %s: %d %s\nnix-build stderr:\n%s", url, p, resp.Status, resp.Body, tail(r.Stderr, 4000))
				}
			}
		})
	}
}

// TestPostBuildHookFailure checks the hook's trade-off: a push that fails
// (here, no server listens) is logged and the build still succeeds, unless
// STRICT=1, which fails it.
func TestPostBuildHookFailure(t *testing.T) {
	nixStart(t)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"NIXBUCKET=" + serverBin, fmt.Sprintf("CACHE_URL=http://127.0.0.1:%d/nix-cache", port), "NETRC_FILE=" + nixNoNetrc(t)}
	_, r := hookBuild(t, env...)
	if r.Err != nil {
		t.Fatalf("nix-build with a hook whose push fails: %v, want success\n%s", r.Err, tail(r.Stderr, 8000))
	}
	if !strings.Contains(r.Stderr, "post-build-hook: pushing") || !strings.Contains(r.Stderr, "the build goes on") {
		t.Errorf("nix-build stderr does not show the failed push, and that the build goes on:\n%s", tail(r.Stderr, 8000))
	}
	_, r = hookBuild(t, append(env, "STRICT=1")...)
	if r.Err == nil {
		t.Errorf("nix-build with STRICT=1 and a failing push succeeded, want failure\n%s", tail(r.Stderr, 8000))
	}
	// The log must not tell the user the build goes on when it fails.
	if strings.Contains(r.Stderr, "the build goes on") || !strings.Contains(r.Stderr, "STRICT=1: failing the build") {
		t.Errorf("nix-build stderr with STRICT=1 does not say the push failed the build:\n%s", tail(r.Stderr, 8000))
	}
}
