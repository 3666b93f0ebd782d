package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkProxyMetrics scrapes a proxy's /-/metrics with curl (a loopback
// caller, so no credentials), checks the text with promtool, and checks
// that its counters hold want (exact lines) and that each name in
// positive is above zero.
func checkProxyMetrics(t *testing.T, url string, want []string, positive []string) {
	t.Helper()
	need(t, "curl")
	promtool := need(t, "promtool")
	dir := t.TempDir()
	file := filepath.Join(dir, "metrics.txt")
	mustRun(t, nil, dir, "curl", "-sSf", "-o", file, url)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, w := range want {
		if !strings.Contains(text, w+"\n") {
			t.Errorf("proxy metrics lack %q", w)
		}
	}
	for _, name := range positive {
		var v float64
		found := false
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, name) {
				fields := strings.Fields(l)
				fmt.Sscan(fields[len(fields)-1], &v)
				found = found || v > 0
			}
		}
		if !found {
			t.Errorf("proxy metric %s is missing or zero", name)
		}
	}
	if r := runCmd(t, nil, dir, "sh", "-c", promtool+" check metrics < metrics.txt"); r.Err != nil {
		t.Errorf("promtool check metrics: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
	if t.Failed() {
		t.Logf("proxy metrics:\n%s", tail(grepLines(text, "nixbucket_"), 6000))
	}
}
