package e2e

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestLogBlockedStderr: with stderr a pipe nobody reads, the server keeps
// answering: requests the access log records, and a failed authentication,
// which logs a line of its own on the request's path (it hung behind the
// blocked pipe when the server's logger wrote to stderr directly). The
// lines past the queue are counted in nixbucket_access_log_dropped_total,
// and SIGTERM still stops the server (Stop fails the test otherwise).
func TestLogBlockedStderr(t *testing.T) {
	t.Parallel()
	setupTarget(t)
	if target != targetNixbucket {
		t.Skip("the log is nixbucket's")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close() // never read: the pipe's 64 KiB fill, then every write blocks
	s := newServer(t, t.TempDir(), nil)
	s.Output = w
	s.opened(s.launch("http"))
	w.Close() // the server has its own copy

	// The guard against a hang, not a timed assertion: an answer takes
	// milliseconds, a hung one never comes.
	client := &http.Client{Timeout: time.Minute}
	get := func(url, user, pass string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v (the server hung behind its blocked stderr)", url, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	// Some 20,000 lines of ~250 bytes: more than the pipe and the 4 MiB
	// queue hold, so lines must drop.
	info := s.Endpoint + "/nix-cache/nix-cache-info"
	for range 20000 {
		if code, _ := get(info, s.AccessKey, s.SecretKey); code != http.StatusOK {
			t.Fatalf("GET nix-cache-info as the admin: %d", code)
		}
	}
	if code, _ := get(info, s.AccessKey, "wrong-secret"); code != http.StatusForbidden {
		t.Errorf("GET with a wrong secret: %d, want 403", code)
	}
	code, metrics := get(s.Endpoint+"/-/metrics", "", "")
	if code != http.StatusOK {
		t.Fatalf("GET /-/metrics: %d", code)
	}
	m := regexp.MustCompile(`(?m)^nixbucket_access_log_dropped_total (\d+)$`).FindStringSubmatch(metrics)
	if m == nil {
		t.Fatalf("no nixbucket_access_log_dropped_total in the metrics")
	}
	if n, _ := strconv.Atoi(m[1]); n == 0 {
		t.Errorf("nixbucket_access_log_dropped_total is 0 after 20,000 lines into a blocked pipe")
	}
	s.Stop()
}
