package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files and nixbucket.toml.example")

// bin is the nixbucket binary TestMain builds, with VCS information.
var bin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "nixbucket-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "nixbucket")
	build := exec.Command("go", "build", "-buildvcs=auto", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building nixbucket:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	testenv.StopPostgres()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what a run of the binary printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
}

// run runs the built binary with args and env added to the test's
// environment.
func run(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("nixbucket %s: %v", strings.Join(args, " "), err)
	}
	return result{out.String(), errb.String(), code}
}

// golden compares got with testdata/NAME.golden, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/nixbucket -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (go test ./cmd/nixbucket -update rewrites it):\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}
