package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// unsignedWarning starts the warning push gives when what it stores will
// be unsigned.
const unsignedWarning = "warning: narinfos will be stored unsigned"

// TestPushUnsignedWarning checks that push warns, once and before it
// uploads, when the narinfos it writes will be stored unsigned: to a
// file:// cache without secret-key=, and to nixbucket when the server does
// not list signing keys for the bucket at GET /-/keys/BUCKET; and that it
// does not warn with a secret key, or when the server lists keys.
func TestPushUnsignedWarning(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	s := nixStart(t)
	sec, _ := pushGenerateKey(t, "push-e2e-unsigned-1")
	c := nixBuildClosure(t, 2, 1, "push-unsigned")
	env := pushEnv(t)

	count := func(r cmdResult) int { return strings.Count(r.Stderr, unsignedWarning) }
	run := func(what string, args ...string) cmdResult {
		t.Helper()
		r := pushRun(t, env, append(args, c.Top)...)
		if r.Err != nil {
			t.Fatalf("%s: push: %v\n%s", what, r.Err, r.Stderr)
		}
		return r
	}

	dir := t.TempDir()
	r := run("file, no key", "--to", "file://"+filepath.Join(dir, "unsigned"))
	if count(r) != 1 || !strings.Contains(r.Stderr, "add secret-key=FILE") {
		t.Errorf("file:// without secret-key: want the warning once, with its fix:\n%s", r.Stderr)
	}
	// Once, and before the first path is pushed.
	if i, j := strings.Index(r.Stderr, unsignedWarning), strings.Index(r.Stderr, "pushed /nix/store/"); i < 0 || j >= 0 && j < i {
		t.Errorf("the warning is not before the uploads:\n%s", r.Stderr)
	}
	r = run("file, key", "--to", "file://"+filepath.Join(dir, "signed")+"?secret-key="+sec)
	if count(r) != 0 {
		t.Errorf("file:// with secret-key: warned:\n%s", r.Stderr)
	}
	// Nothing to push, nothing stored: no warning.
	r = run("file, all there", "--to", "file://"+filepath.Join(dir, "unsigned"))
	if count(r) != 0 {
		t.Errorf("file:// with nothing to push: warned:\n%s", r.Stderr)
	}

	// nixbucket: the private nix-cache signs with the key of its first
	// start, and push, asking /-/keys with its netrc credentials, learns
	// so: no warning. Once the bucket has no key left, it warns.
	r = run("nixbucket, bucket signs", "--netrc-file", nixNetrc(s), "--to", nixCacheURL(s, nixCacheBucket))
	if count(r) != 0 {
		t.Errorf("nixbucket signs nix-cache, and push warned:\n%s", r.Stderr)
	}
	for _, k := range strings.Fields(nixServerKey(t, s, nixCacheBucket)) {
		name, _, _ := strings.Cut(k, ":")
		nixAdmin(t, s, "bucket", "key", "remove", nixCacheBucket, name)
	}
	c2 := nixBuildClosure(t, 1, 1, "push-unsigned-2")
	r = pushRun(t, env, "--netrc-file", nixNetrc(s), "--to", nixCacheURL(s, nixCacheBucket), c2.Top)
	if r.Err != nil {
		t.Fatalf("push: %v\n%s", r.Err, r.Stderr)
	}
	if count(r) != 1 || !strings.Contains(r.Stderr, "unless the cache signs them") {
		t.Errorf("nix-cache has no key left, and push did not warn once that the cache may not sign:\n%s", r.Stderr)
	}
}

// TestPushStdinEmpty checks that `push --stdin` with no paths on standard
// input (Nix 2.8's post-build hook with an empty OUT_PATHS) says so in a
// warning and succeeds.
func TestPushStdinEmpty(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "\n  \n"} {
		r := pushRunStdin(t, pushEnv(t), in, "--stdin", "--to", "file://"+t.TempDir())
		if r.Err != nil {
			t.Errorf("stdin %q: push: %v\n%s", in, r.Err, r.Stderr)
		}
		if want := "warning: no store paths on stdin; nothing to push\n"; r.Stderr != want {
			t.Errorf("stdin %q: standard error %q, want %q", in, r.Stderr, want)
		}
	}
}
