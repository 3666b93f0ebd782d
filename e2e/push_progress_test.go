package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestPushProgressNarrowTerminal runs push in a terminal (tmux) narrower
// than its progress line. The line is redrawn in place with "\r\033[K",
// which clears only the row the cursor is on: a line that wrapped left
// its first row behind at every redraw, filling the screen with stale
// progress. A proxy stalls the upload until the progress line has been
// drawn, so that it is; once the push is over, no progress row may be
// left on the screen.
func TestPushProgressNarrowTerminal(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	need(t, "tmux")
	s := nixStart(t)
	c := nixBuildClosure(t, 1, 4<<10, "push-progress")
	proxy := testenv.NewProxy(t, s.Addr)
	proxy.StallAfter(1 << 20) // in the NAR's upload

	dir := t.TempDir()
	var script strings.Builder
	for _, kv := range pushEnv(t) {
		k, v, _ := strings.Cut(kv, "=")
		if k == "TERM" || strings.ContainsAny(k, "()") {
			continue
		}
		fmt.Fprintf(&script, "export %s=%s\n", k, shellQuote(v))
	}
	fmt.Fprintf(&script, "%s push --netrc-file %s --to %s %s\necho PUSH-EXITED $?\nsleep 600\n",
		shellQuote(pushBinary(t)), shellQuote(nixNetrc(s)), shellQuote("http://"+proxy.Addr()+"/"+nixCacheBucket+"?compression=none"), c.Top)
	scriptFile := filepath.Join(dir, "push.sh")
	if err := os.WriteFile(scriptFile, []byte(script.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	session := "nixbucket-e2e-" + filepath.Base(dir)
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-L", session}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	tmux("new-session", "-d", "-s", session, "-x", "50", "-y", "30", "sh "+scriptFile)
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", session, "kill-server").Run() })
	screen := func() string { return tmux("capture-pane", "-p", "-t", session) }
	waitFor := func(what string) string {
		t.Helper()
		for range 600 {
			if sc := screen(); strings.Contains(sc, what) {
				return sc
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("no %q on the screen after a minute:\n%s", what, screen())
		return ""
	}
	waitFor(" paths]") // the progress line, while the upload is held
	proxy.Stall(false)
	sc := waitFor("PUSH-EXITED")
	if !strings.Contains(sc, "PUSH-EXITED 0") {
		t.Fatalf("push failed:\n%s", sc)
	}
	for _, line := range strings.Split(sc, "\n") {
		if strings.Contains(line, " paths]") {
			t.Errorf("a progress row is left on the screen: %q\n%s", line, sc)
		}
	}
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
