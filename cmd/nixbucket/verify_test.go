package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/verify"
)

// TestVerifyProgressLine drives the progress line with a tick of its own:
// each tick rewrites the line with the figures so far; stopping clears it.
func TestVerifyProgressLine(t *testing.T) {
	var out strings.Builder
	var p verify.Progress
	p.Total.Store(10)
	tick := make(chan time.Time)
	stop := progressLine(&out, tick, "nix-cache", &p)
	p.Checked.Store(3)
	p.Bytes.Store(3 << 20)
	tick <- time.Now()
	p.Checked.Store(10)
	tick <- time.Now()
	stop()
	re := regexp.MustCompile(`^\r\x1b\[Kverify nix-cache: 3/10 narinfos, 3\.0 MiB read, [0-9.]+ [KMGT]?i?B/s` +
		`\r\x1b\[Kverify nix-cache: 10/10 narinfos, 3\.0 MiB read, [0-9.]+ [KMGT]?i?B/s\r\x1b\[K$`)
	if !re.MatchString(out.String()) {
		t.Errorf("progress output %q, want two lines and a clear", out.String())
	}
}

// TestVerifyProgressSilent: when standard error is not a terminal, there
// is no progress line at all.
func TestVerifyProgressSilent(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var p verify.Progress
	verifyProgress(f, "nix-cache", &p)()
	if fi, _ := f.Stat(); fi.Size() != 0 {
		t.Errorf("progress wrote %d bytes to a file, want none", fi.Size())
	}
}
