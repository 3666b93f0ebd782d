package main

import (
	"os/exec"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersion: nixbucket version (and --version) prints the module, the
// Go version and the VCS revision the build recorded (go version -m).
func TestVersion(t *testing.T) {
	info, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	rev := regexp.MustCompile(`(?m)^\s*build\s+vcs\.revision=(\S+)$`).FindSubmatch(info)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := run(t, nil, args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "nixbucket ") || !strings.Contains(r.stdout, "go: "+runtime.Version()) ||
			!strings.Contains(r.stdout, "module: github.com/nixbucket/nixbucket\n") {
			t.Errorf("nixbucket %s: exit %d, stdout %q, stderr %q", args[0], r.code, r.stdout, r.stderr)
		}
		if rev != nil && !strings.Contains(r.stdout, "revision: "+string(rev[1])) {
			t.Errorf("nixbucket %s does not name the revision %s of its build info:\n%s", args[0], rev[1], r.stdout)
		}
		if rev == nil && !strings.Contains(r.stdout, "revision: unknown") {
			t.Errorf("nixbucket %s, built without VCS information:\n%s", args[0], r.stdout)
		}
	}
}

// TestFormatVersion: the module version and VCS settings of the build
// info, and -ldflags -X main.version winning over them.
func TestFormatVersion(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Path: "github.com/nixbucket/nixbucket", Version: "v0.4.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}}
	want := "nixbucket v0.4.0\nrevision: abc123 (dirty)\ncommit time: 2026-01-02T03:04:05Z\nmodule: github.com/nixbucket/nixbucket\ngo: go1.99 " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if got := formatVersion("dev", bi); got != want {
		t.Errorf("formatVersion = %q, want %q", got, want)
	}
	if got := formatVersion("v1.2.3-ldflags", bi); !strings.HasPrefix(got, "nixbucket v1.2.3-ldflags\n") {
		t.Errorf("with -ldflags version: %q", got)
	}
	bi.Main.Version = "(devel)"
	if got := formatVersion("dev", bi); !strings.HasPrefix(got, "nixbucket dev\n") {
		t.Errorf("from a source tree: %q", got)
	}
}
