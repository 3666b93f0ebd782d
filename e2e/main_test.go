package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// Targets the suite can run against.
const (
	targetNixbucket = "nixbucket"
	targetVersitygw = "versitygw"
)

var (
	// target is the server under test, from NIXBUCKET_E2E_TARGET.
	target = targetNixbucket
	// serverBin is the executable of the server under test.
	serverBin string
	// setupErr is why the server under test cannot be run, if it cannot.
	setupErr error
	// repoRoot is the directory holding go.mod.
	repoRoot string
)

func TestMain(m *testing.M) {
	if spec := os.Getenv("NIXBUCKET_SILENT_HOLD"); spec != "" {
		holdSilentSockets(spec) // a helper process: never returns
	}
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	repoRoot, err = findRepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "nixbucket-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	defer testenv.StopS3Store()  // started by the first test on S3 blobs, if any
	defer testenv.StopPostgres() // likewise for PostgreSQL metadata
	binDir = tmp
	// Admin commands look for existing profiles in the user's AWS
	// credentials to name a new one; the tests' expectations must not
	// depend on the machine's file.
	os.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(tmp, "aws-credentials"))
	return m.Run()
}

var (
	setupOnce  sync.Once
	setupShown atomic.Bool
	binDir     string
)

// setupTarget finds or builds the server under test, once, from inside the
// first test that needs it (so that go test's cache sees the sources it
// stats), and fails t if that is impossible. The reason is shown in full
// once, then in short.
func setupTarget(t testing.TB) {
	t.Helper()
	setupOnce.Do(func() {
		// Read here, not in TestMain, so that go test's cache keys on it.
		if v := os.Getenv("NIXBUCKET_E2E_TARGET"); v != "" {
			target = v
		}
		if setupErr = readStoreMode(); setupErr != nil {
			return
		}
		switch target {
		case targetNixbucket:
			statSources()
			serverBin, setupErr = buildNixbucket(binDir)
		case targetVersitygw:
			serverBin, setupErr = findVersitygw()
		default:
			setupErr = fmt.Errorf("unknown NIXBUCKET_E2E_TARGET %q (want %q or %q)", target, targetNixbucket, targetVersitygw)
		}
	})
	if setupErr == nil {
		return
	}
	if setupShown.CompareAndSwap(false, true) {
		t.Fatalf("cannot run %s: %v", target, setupErr)
	}
	t.Fatalf("cannot run %s (see the first failure)", target)
}

// findRepoRoot walks up from the working directory (the package directory
// under go test) to the directory holding go.mod.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("find repository root: no go.mod above %s", dir)
		}
	}
}

// statSources stats every Go source and go.mod/go.sum of the repository.
// go test caches a package's result keyed on the files a test touched (only
// once m.Run has started); the server binary is built by a subprocess,
// which go test cannot see, so without this an edited server would get a
// stale cached "ok".
func statSources() {
	_ = filepath.WalkDir(repoRoot, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if name := d.Name(); path != repoRoot && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if name := d.Name(); strings.HasSuffix(name, ".go") || name == "go.mod" || name == "go.sum" {
			_, _ = os.Stat(path)
		}
		return nil
	})
}

// buildNixbucket builds ./cmd/nixbucket into dir, unless NIXBUCKET_E2E_BIN
// names a binary to use instead.
func buildNixbucket(dir string) (string, error) {
	if bin := os.Getenv("NIXBUCKET_E2E_BIN"); bin != "" {
		return filepath.Abs(bin)
	}
	bin := filepath.Join(dir, "nixbucket")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/nixbucket")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/nixbucket: %w\n%s", err, out)
	}
	return bin, nil
}

// findVersitygw locates versitygw on PATH or in GOPATH/bin.
func findVersitygw() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOPATH: %w", err)
	}
	for _, gp := range filepath.SplitList(strings.TrimSpace(string(out))) {
		p := filepath.Join(gp, "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("versitygw not found on PATH or in GOPATH/bin (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)")
}

// sharedDir returns the project's shared/ directory (see testenv.SharedDir).
func sharedDir(t testing.TB) string { return testenv.SharedDir(t) }

// inCI reports whether the suite runs in CI, where a missing peer program is
// a failure rather than a reason to skip.
func inCI() bool { return testenv.InCI() }

// skipOrFail skips the test, or fails it under CI.
func skipOrFail(t testing.TB, why string) {
	t.Helper()
	testenv.SkipOrFail(t, why)
}

// need returns the path of program, skipping the test when it is missing
// (or failing it under CI).
func need(t testing.TB, program string) string {
	t.Helper()
	return testenv.Need(t, program)
}

// cmdResult is the outcome of one external command.
type cmdResult struct {
	Stdout, Stderr string
	Err            error
}

// runCmd runs a program with env as its whole environment and returns its
// output. It never fails the test itself. The server's admin commands
// given `--data DIR` also get the matrix's stores of DIR (adminEnv).
func runCmd(t testing.TB, env []string, dir string, name string, args ...string) cmdResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	if name == serverBin {
		cmd.Env = adminEnv(env, args) // the matrix's stores, if any
	}
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	return cmdResult{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

// mustRun runs a program like runCmd and fails the test when it exits
// non-zero, showing both output streams.
func mustRun(t testing.TB, env []string, dir string, name string, args ...string) string {
	t.Helper()
	r := runCmd(t, env, dir, name, args...)
	if r.Err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), r.Err, tail(r.Stdout, 4000), tail(r.Stderr, 8000))
	}
	return r.Stdout
}

// tail returns at most the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// randReader returns a deterministic stream of pseudo-random bytes: the same
// seed always yields the same bytes, so large bodies can be regenerated for
// comparison instead of kept in memory.
func randReader(seed uint64) io.Reader {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	copy(key[8:], "nixbucket-e2e-random-data")
	return rand.NewChaCha8(key)
}

// writeRandomFile writes size pseudo-random bytes from seed to path and
// returns their SHA-256 in hex.
func writeRandomFile(t testing.TB, path string, size int64, seed uint64) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), randReader(seed), size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// fileSHA256 returns the SHA-256 of a file in hex.
func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	return hex.EncodeToString(fileSum(t, path, sha256.New()))
}

// fileSum returns h's sum of the file at path.
func fileSum(t testing.TB, path string, h hash.Hash) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return h.Sum(nil)
}

// sameFile fails the test unless the two files hold the same bytes.
func sameFile(t testing.TB, want, got string) {
	t.Helper()
	w, g := fileSHA256(t, want), fileSHA256(t, got)
	if w != g {
		wi, _ := os.Stat(want)
		gi, _ := os.Stat(got)
		var ws, gs int64 = -1, -1
		if wi != nil {
			ws = wi.Size()
		}
		if gi != nil {
			gs = gi.Size()
		}
		t.Fatalf("%s differs from %s: sha256 %s (%d bytes), want %s (%d bytes)", got, want, g, gs, w, ws)
	}
}
