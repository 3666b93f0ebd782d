package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

// nixCacheBucket is the bucket a first start creates, private, with a
// signing key.
const nixCacheBucket = "nix-cache"

// nixStart skips the test when Nix, curl or the corpus is missing (failing
// it under CI), or when the target is not nixbucket (only nixbucket is a
// binary cache), and starts a server.
func nixStart(t *testing.T) *Server {
	t.Helper()
	nixNeed(t)
	return startServer(t)
}

// nixNeed is nixStart's checks, for tests that start servers their way.
func nixNeed(t *testing.T) {
	t.Helper()
	for _, p := range []string{"nix", "nix-store", "nix-build", "curl", "sh"} {
		need(t, p)
	}
	sharedDir(t)
	// Debian's nix-bin runs single-user as root, or talks to a daemon.
	if syscall.Access("/nix/var/nix/db", 2 /* W_OK */) != nil {
		if _, err := os.Stat("/nix/var/nix/daemon-socket/socket"); err != nil {
			skipOrFail(t, "the Nix store is neither writable (run as root) nor served by nix-daemon")
		}
	}
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("%s is not a Nix binary cache", target)
	}
}

// nixEnv is the environment of one Nix invocation: the test's, with fresh
// XDG cache and config directories (Nix remembers the narinfos it uploaded,
// unsigned, for 30 days, which would defeat require-sigs; and a user's
// nix.conf must not leak in), and proxies that make anything but loopback
// fail at once.
func nixEnv(t testing.TB) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasSuffix(strings.ToUpper(k), "_PROXY") || k == "NIX_CONFIG" || k == "NIX_USER_CONF_FILES" {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"XDG_CACHE_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir(),
		"https_proxy=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9",
		"http_proxy=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9",
		"no_proxy=127.0.0.1,localhost", "NO_PROXY=127.0.0.1,localhost",
	)
}

// nixRun runs a Nix program (or curl, or the server's admin commands) in
// nixEnv without failing the test.
func nixRun(t testing.TB, name string, args ...string) cmdResult {
	t.Helper()
	if name == "nix" {
		args = append([]string{"--extra-experimental-features", "nix-command"}, args...)
	}
	return runCmd(t, nixEnv(t), "", name, args...)
}

// nixMust is nixRun that fails the test when the program exits non-zero.
func nixMust(t testing.TB, name string, args ...string) string {
	t.Helper()
	r := nixRun(t, name, args...)
	if r.Err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), r.Err, tail(r.Stdout, 4000), tail(r.Stderr, 8000))
	}
	return r.Stdout
}

// nixAdmin runs `nixbucket ARGS --data DIR` against the server's data
// directory (the admin commands work while it runs).
func nixAdmin(t testing.TB, s *Server, args ...string) string {
	t.Helper()
	return nixMust(t, serverBin, append(args, "--data", s.Dir)...)
}

// nixServerKey returns the bucket's keys in trusted-public-keys form.
func nixServerKey(t testing.TB, s *Server, bucket string) string {
	t.Helper()
	key := strings.TrimSpace(nixAdmin(t, s, "bucket", "public-key", bucket))
	if _, err := signature.ParsePublicKey(strings.Fields(key)[0]); err != nil {
		t.Fatalf("bucket public-key %s: %q: %v", bucket, key, err)
	}
	return key
}

// nixPublicKey parses the first key of a trusted-public-keys value.
func nixPublicKey(t testing.TB, keys string) signature.PublicKey {
	t.Helper()
	k, err := signature.ParsePublicKey(strings.Fields(keys)[0])
	if err != nil {
		t.Fatalf("public key %q: %v", keys, err)
	}
	return k
}

// nixCachePaths returns the number of store paths `nixbucket bucket info`
// reports for bucket.
func nixCachePaths(t testing.TB, s *Server, bucket string) int {
	t.Helper()
	out := nixAdmin(t, s, "bucket", "info", bucket)
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "store paths:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("bucket info %s: store paths %q: %v", bucket, v, err)
			}
			return n
		}
	}
	t.Fatalf("bucket info %s: no \"store paths:\" line in\n%s", bucket, out)
	return 0
}

// nixNetrc returns the server's netrc file (the root key as HTTP Basic).
func nixNetrc(s *Server) string { return filepath.Join(s.Dir, "netrc") }

// nixNoNetrc returns an empty netrc file, for anonymous Nix runs that must
// not fall back to /etc/nix/netrc.
func nixNoNetrc(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "netrc")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// nixCacheURL is the plain-HTTP binary-cache URL of a bucket.
func nixCacheURL(s *Server, bucket string) string { return s.Endpoint + "/" + bucket }

// nixClosure is a closure built by the corpus's make-closure.sh under a tag
// of its own, with the NAR dump of every path taken right after the build.
type nixClosure struct {
	Top   string   // the top store path
	Paths []string // the whole closure, references before referrers
	root  string   // the GC root the script left
	dumps map[string]string
}

// nixBuildClosure builds a closure of n paths with kib KiB of random bytes
// each, under a tag unique to this run, and deletes it from the store when
// the test ends.
func nixBuildClosure(t testing.TB, n, kib int, tag string) *nixClosure {
	t.Helper()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	tag = "nixe2e-" + tag + "-" + hex.EncodeToString(rnd[:])
	tmp := t.TempDir() // mktemp -d in the script puts the GC root here
	script := filepath.Join(sharedDir(t), "corpus", "make-closure.sh")
	r := runCmd(t, append(nixEnv(t), "TMPDIR="+tmp), "", "sh", script, strconv.Itoa(n), strconv.Itoa(kib), tag)
	if r.Err != nil {
		t.Fatalf("make-closure.sh %d %d %s: %v\n%s", n, kib, tag, r.Err, tail(r.Stderr, 8000))
	}
	c := &nixClosure{Top: strings.TrimSpace(r.Stdout), dumps: map[string]string{}}
	roots, _ := filepath.Glob(filepath.Join(tmp, "*", "result"))
	if len(roots) != 1 {
		t.Fatalf("make-closure.sh left GC roots %v in %s, want one", roots, tmp)
	}
	c.root = roots[0]
	c.Paths = strings.Fields(nixMust(t, "nix-store", "--query", "--requisites", c.Top))
	if len(c.Paths) != n || c.Paths[n-1] != c.Top {
		t.Fatalf("closure of %s is %v, want %d paths ending with it", c.Top, c.Paths, n)
	}
	for _, p := range c.Paths {
		c.dumps[p] = nixDumpSHA256(t, p)
	}
	// The derivations are deleted too, after their outputs.
	drvs := strings.Fields(nixMust(t, "nix-store", append([]string{"--query", "--deriver"}, c.Paths...)...))
	t.Cleanup(func() {
		_ = os.Remove(c.root)
		for _, paths := range [][]string{c.Paths, drvs} {
			if r := nixRun(t, "nix-store", append([]string{"--delete"}, paths...)...); r.Err != nil {
				t.Logf("cleanup: nix-store --delete: %v\n%s", r.Err, tail(r.Stderr, 2000))
			}
		}
	})
	return c
}

// nixHashPart returns the hash part of a store path, its narinfo's name.
func nixHashPart(path string) string { return filepath.Base(path)[:32] }

// delete removes the closure from the local store, and fails the test if
// any path is still there.
func (c *nixClosure) delete(t testing.TB) {
	t.Helper()
	if err := os.Remove(c.root); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	nixMust(t, "nix-store", append([]string{"--delete"}, c.Paths...)...)
	for _, p := range c.Paths {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Fatalf("%s still exists after nix-store --delete (%v)", p, err)
		}
	}
}

// checkDumps fails the test unless every path of the closure is valid in
// the local store and dumps to the same NAR as when it was built.
func (c *nixClosure) checkDumps(t testing.TB) {
	t.Helper()
	nixMust(t, "nix-store", append([]string{"--check-validity"}, c.Paths...)...)
	for _, p := range c.Paths {
		if got := nixDumpSHA256(t, p); got != c.dumps[p] {
			t.Errorf("nix-store --dump %s: sha256 %s, want %s as built", p, got, c.dumps[p])
		}
	}
}

// nixAbsent fails the test if any of paths is in the local store.
func nixAbsent(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s is in the store (%v), want it absent", p, err)
		}
	}
}

// nixDumpSHA256 returns the SHA-256 of `nix-store --dump path`.
func nixDumpSHA256(t testing.TB, path string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nix-store", "--dump", path)
	cmd.Env = nixEnv(t)
	h := sha256.New()
	cmd.Stdout = h
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("nix-store --dump %s: %v\n%s", path, err, stderr.String())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// nixSubstitute realises paths with nix-store -r from one substituter,
// with signatures required and only trustedKeys trusted.
func nixSubstitute(t testing.TB, substituter, trustedKeys, netrc string, paths ...string) cmdResult {
	t.Helper()
	args := append([]string{"--realise"}, paths...)
	args = append(args,
		"--option", "substituters", substituter,
		"--option", "trusted-public-keys", trustedKeys,
		"--option", "require-sigs", "true",
		"--option", "netrc-file", netrc,
	)
	return nixRun(t, "nix-store", args...)
}

// nixMustSubstitute is nixSubstitute that fails the test unless it
// succeeds and every path comes back.
func nixMustSubstitute(t testing.TB, substituter, trustedKeys, netrc string, paths ...string) {
	t.Helper()
	r := nixSubstitute(t, substituter, trustedKeys, netrc, paths...)
	if r.Err != nil {
		t.Fatalf("nix-store -r from %s: %v\n%s", substituter, r.Err, tail(r.Stderr, 8000))
	}
}

// nixFileCache copies paths into a fresh file:// binary cache with the given
// store URL parameters and returns its directory.
func nixFileCache(t testing.TB, params string, paths ...string) string {
	t.Helper()
	dir := t.TempDir()
	nixMust(t, "nix", append([]string{"copy", "--option", "substituters", "", "--to", "file://" + dir + "?" + params}, paths...)...)
	return dir
}

// nixReadNarinfo parses a narinfo file.
func nixReadNarinfo(t testing.TB, path string) *narinfo.NarInfo {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return nixParseNarinfo(t, path, b)
}

// nixParseNarinfo parses and validates narinfo text.
func nixParseNarinfo(t testing.TB, what string, b []byte) *narinfo.NarInfo {
	t.Helper()
	ni, err := narinfo.Parse(b)
	if err == nil {
		err = ni.Validate()
	}
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, b)
	}
	return ni
}

// nixHTTP makes one plain-HTTP request with curl, with the credentials of
// netrc ("" for none), the way Nix does on the binary-cache protocol.
func nixHTTP(t testing.TB, netrc, method, url string, args ...string) curlResponse {
	t.Helper()
	dir := t.TempDir()
	hdr, body := filepath.Join(dir, "headers"), filepath.Join(dir, "body")
	argv := []string{"-sS", "-X", method}
	if method == http.MethodHead {
		argv = []string{"-sS", "-I"}
	}
	argv = append(argv, "-D", hdr, "-o", body, "-w", "%{http_code}")
	if netrc != "" {
		argv = append(argv, "--netrc-file", netrc)
	}
	argv = append(append(argv, args...), url)
	r := runCmd(t, nixEnv(t), dir, "curl", argv...)
	if r.Err != nil {
		t.Fatalf("curl %s %s: %v\n%s", method, url, r.Err, r.Stderr)
	}
	var resp curlResponse
	if _, err := fmt.Sscan(r.Stdout, &resp.Status); err != nil {
		t.Fatalf("curl %s %s: status %q: %v", method, url, r.Stdout, err)
	}
	resp.Header = lastHeaderBlock(t, hdr)
	if b, err := os.ReadFile(body); err == nil {
		resp.Body = string(b)
	}
	return resp
}

// nixPut uploads a file over the binary-cache protocol with netrc's
// credentials.
func nixPut(t testing.TB, netrc, url, file, contentType string, headers ...string) curlResponse {
	t.Helper()
	args := []string{"-T", file, "-H", "Content-Type: " + contentType}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	return nixHTTP(t, netrc, http.MethodPut, url, args...)
}

// nixMustPut is nixPut that fails the test unless the server answers 200.
func nixMustPut(t testing.TB, netrc, url, file, contentType string, headers ...string) {
	t.Helper()
	if r := nixPut(t, netrc, url, file, contentType, headers...); r.Status != http.StatusOK {
		t.Fatalf("PUT %s: %d %s", url, r.Status, r.Body)
	}
}
