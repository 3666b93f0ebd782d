package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestAccessLogRefusedBeforeRouting: the requests net/http answers by
// itself, before any handler runs (a head over the size limit, a request
// line it cannot parse, an HTTP version it does not speak), are logged and
// counted as every request is, on both transports (the fast lane, which
// hands such connections over, and --fastlane=false), on a connection's
// first request and on one kept alive after a PUT net/http served.
func TestAccessLogRefusedBeforeRouting(t *testing.T) {
	t.Parallel()
	need(t, "curl")
	setupTarget(t)
	if target != targetNixbucket {
		t.Skip("the log is nixbucket's")
	}
	for _, lane := range []string{"--fastlane=true", "--fastlane=false"} {
		t.Run(lane, func(t *testing.T) {
			t.Parallel()
			s := startServerArgs(t, t.TempDir(), "http", lane)
			// curl with a header over the 64 KiB limit: 431.
			big := "X-Big: " + strings.Repeat("a", 80<<10)
			got := nixHTTP(t, "", http.MethodGet, s.Endpoint+"/nix-cache/nix-cache-info", "-H", big)
			if got.Status != http.StatusRequestHeaderFieldsTooLarge {
				t.Fatalf("GET with an 80 KiB header: %d, want 431", got.Status)
			}
			// A request line net/http cannot parse: 400; an HTTP version
			// it does not speak: 505.
			if st := rawStatus(t, s, "GARBAGE\r\n\r\n"); st != http.StatusBadRequest {
				t.Fatalf("a malformed request line: %d, want 400", st)
			}
			if st := rawStatus(t, s, "GET /nix-cache/nix-cache-info HTTP/9.1\r\nHost: x\r\n\r\n"); st != http.StatusHTTPVersionNotSupported {
				t.Fatalf("HTTP/9.1: %d, want 505", st)
			}
			// An Expect header net/http does not know: 417.
			if got := nixHTTP(t, "", http.MethodGet, s.Endpoint+"/nix-cache/nix-cache-info", "-H", "Expect: foo"); got.Status != http.StatusExpectationFailed {
				t.Fatalf("GET with Expect: foo: %d, want 417", got.Status)
			}
			// A PUT (net/http's) answered, then a malformed request on the
			// same connection.
			put := "PUT /nix-cache/refused.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
			if st := rawStatus(t, s, put+"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusUnauthorized); st != http.StatusBadRequest {
				t.Fatalf("a malformed request after a PUT: %d, want 400", st)
			}

			log := s.logWithCount("operation=Unknown", 5) // written in the background
			for _, st := range []int{431, 400, 505, 417} {
				re := regexp.MustCompile(`(?m)^time=\S+ level=INFO msg=request id=\S+ remote=127\.0\.0\.1:\d+ principal=anonymous protocol=s3 operation=Unknown method="" status=` +
					fmt.Sprint(st) + ` bytes_in=0 bytes_out=\d+ duration=\S+$`)
				if !re.MatchString(log) {
					t.Errorf("no access log line of the %d net/http answered, matching %s, in:\n%s", st, re, tail(log, 3000))
				}
			}
			if n := strings.Count(log, "operation=Unknown method=\"\" status=400"); n != 2 {
				t.Errorf("%d log lines of the two 400s:\n%s", n, tail(log, 3000))
			}
			for series, want := range map[string]float64{
				`nixbucket_requests_total{bucket="",class="4xx",operation="Unknown",protocol="s3"}`: 4,
				`nixbucket_requests_total{bucket="",class="5xx",operation="Unknown",protocol="s3"}`: 1,
				`nixbucket_request_duration_seconds_count{operation="Unknown",protocol="s3"}`:       5,
			} {
				if v, _ := metricValue(t, s, series); v != want {
					t.Errorf("%s = %v, want %v", series, v, want)
				}
			}
		})
	}
}

// rawStatus sends raw on a new connection to s and returns the status of
// the last answer, after reading as many answers as the statuses before
// it (each of which must match).
func rawStatus(t *testing.T, s *Server, raw string, before ...int) int {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i := 0; ; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading answer %d to %q: %v", i+1, raw, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if i == len(before) {
			return resp.StatusCode
		}
		if resp.StatusCode != before[i] {
			t.Fatalf("answer %d to %q: %d, want %d", i+1, raw, resp.StatusCode, before[i])
		}
	}
}
