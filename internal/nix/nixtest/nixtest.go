// Package nixtest holds helpers for tests that run the real Nix installed on
// the machine (Debian's nix-bin: nix-store, nix-hash, nix, nix-build).
package nixtest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// Require skips the test when one of the named programs is missing, unless
// CI=true, in which case it fails the test: a missing install step must not
// pass silently in CI.
func Require(t testing.TB, programs ...string) {
	t.Helper()
	for _, p := range programs {
		testenv.Need(t, p)
	}
}

// Run runs a program and returns its standard output, failing the test with
// its standard error if it exits non-zero. Nix's caches go to a per-test
// directory so that tests neither read nor pollute the user's.
func Run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, err := Command(t, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

// Command is Run without the failure: it returns the error, with standard
// error in its text.
func Command(t testing.TB, name string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+cacheDir(t))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, &cmdError{err: err, stderr: stderr.String()}
	}
	return out, nil
}

type cmdError struct {
	err    error
	stderr string
}

func (e *cmdError) Error() string { return e.err.Error() + ": " + strings.TrimSpace(e.stderr) }
func (e *cmdError) Unwrap() error { return e.err }

var cacheDirs sync.Map // testing.TB → string

func cacheDir(t testing.TB) string {
	if d, ok := cacheDirs.Load(t); ok {
		return d.(string)
	}
	d := t.TempDir()
	cacheDirs.Store(t, d)
	t.Cleanup(func() { cacheDirs.Delete(t) })
	return d
}

// Nix runs the nix command with the nix-command feature enabled.
func Nix(t testing.TB, args ...string) []byte {
	t.Helper()
	return Run(t, "nix", append([]string{"--extra-experimental-features", "nix-command"}, args...)...)
}

var closure struct {
	once  sync.Once
	paths []string
	err   error
}

// Closure builds the test closure with the project's corpus script
// (make-closure.sh 3 64 nixfmt) and returns its store paths, the top one last.
// It is built once per test binary.
func Closure(t testing.TB) []string {
	t.Helper()
	Require(t, "nix-build", "nix-store")
	script := filepath.Join(testenv.SharedDir(t), "corpus", "make-closure.sh")
	closure.once.Do(func() {
		if _, err := os.Stat(script); err != nil {
			closure.err = fmt.Errorf("the corpus script is missing: %w", err)
			return
		}
		out, err := exec.Command("sh", script, "3", "64", "nixfmt").Output()
		if err != nil {
			closure.err = describe(err)
			return
		}
		top := strings.TrimSpace(string(out))
		out, err = exec.Command("nix-store", "-q", "--requisites", top).Output()
		if err != nil {
			closure.err = describe(err)
			return
		}
		closure.paths = strings.Fields(string(out))
	})
	if closure.err != nil {
		if errors.Is(closure.err, fs.ErrNotExist) && os.Getenv("CI") != "true" {
			t.Skipf("building the test closure: %v", closure.err)
		}
		t.Fatalf("building the test closure: %v", closure.err)
	}
	return closure.paths
}

func describe(err error) error {
	if ee, ok := err.(*exec.ExitError); ok {
		return &cmdError{err: err, stderr: string(ee.Stderr)}
	}
	return err
}

// Cache copies paths with `nix copy` into a fresh file:// binary cache in a
// temporary directory, with the given store URL parameters (for example
// "compression=none&write-nar-listing=1&secret-key=/path"), and returns the
// directory.
func Cache(t testing.TB, params string, paths ...string) string {
	t.Helper()
	Require(t, "nix")
	dir := t.TempDir()
	url := "file://" + dir
	if params != "" {
		url += "?" + params
	}
	Nix(t, append([]string{"copy", "--to", url}, paths...)...)
	return dir
}

// GenerateKey writes a key pair made by nix-store --generate-binary-cache-key
// into a temporary directory and returns the two file names.
func GenerateKey(t testing.TB, name string) (secretFile, publicFile string) {
	t.Helper()
	Require(t, "nix-store")
	dir := t.TempDir()
	secretFile, publicFile = filepath.Join(dir, "sec"), filepath.Join(dir, "pub")
	Run(t, "nix-store", "--generate-binary-cache-key", name, secretFile, publicFile)
	return secretFile, publicFile
}
