// Package testenv is the one place tests learn about the machine they run
// on: whether they run in CI, where the project's shared/ directory is, and
// which peer programs are installed. Under CI=true a missing peer fails the
// test instead of skipping it, so a broken install step cannot pass silently.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// InCI reports whether the tests run in CI (CI=true), where a missing peer
// program or fixture is a failure rather than a reason to skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// SkipOrFail skips the test with why, or fails it under CI.
func SkipOrFail(t testing.TB, why string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s (CI=true: missing peers fail)", why)
	}
	t.Skip(why)
}

// Need returns the path of program, skipping the test when it is missing or
// when running it with check (if given) fails; under CI it fails instead.
func Need(t testing.TB, program string, check ...string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err == nil && len(check) > 0 {
		err = exec.Command(p, check...).Run()
	}
	if err != nil {
		SkipOrFail(t, fmt.Sprintf("%s not available: %v", program, err))
	}
	return p
}

var root = sync.OnceValues(func() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("no go.mod above %s", wd)
})

// RepoRoot returns the module's root directory (the one holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	d, err := root()
	if err != nil {
		t.Fatalf("finding the repository root: %v", err)
	}
	return d
}

// SharedDir returns the project's shared/ directory (fixtures, corpus
// scripts): $NIXBUCKET_SHARED, or shared/ beside the repository root. It
// skips the test when the directory is missing, or fails it under CI.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir, err := sharedDir()
	if err != nil {
		SkipOrFail(t, fmt.Sprintf("shared directory not found (set NIXBUCKET_SHARED): %v", err))
	}
	return dir
}

func sharedDir() (string, error) {
	dir := os.Getenv("NIXBUCKET_SHARED")
	if dir == "" {
		r, err := root()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(filepath.Dir(r), "shared")
	}
	if _, err := os.Stat(filepath.Join(dir, "DESIGN.md")); err != nil {
		return "", err
	}
	return dir, nil
}
