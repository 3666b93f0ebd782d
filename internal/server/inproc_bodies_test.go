package server_test

import (
	"bufio"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/server"
)

// TestStalledBodyOfRefusedRequest: a request refused before its body was
// read, whose client then stops sending mid-body, gets its answer and
// the connection closes; the server does not wait for the rest for good
// (net/http's read of a small body's remainder after the handler had no
// deadline). The check is only that the answer comes at all: the
// client's deadline is a guard against hanging the test, far above the
// shortened wait.
func TestStalledBodyOfRefusedRequest(t *testing.T) {
	defer server.SetBodyIdle(50 * time.Millisecond)()
	e := newEnv(t)
	b := e.bucket("stall")
	u, err := url.Parse(e.ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []string{
		"PUT /" + b + "/k HTTP/1.1\r\nHost: " + u.Host + "\r\nContent-Length: 100\r\n\r\nabc",
		"POST /" + b + "?delete HTTP/1.1\r\nHost: " + u.Host + "\r\nContent-Length: 100\r\n\r\nabc",
	} {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: no answer while the body stalls: %v", strings.Fields(req)[0], err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: status %d, want a refusal (401 or 403)", strings.Fields(req)[0], resp.StatusCode)
		}
		if !resp.Close {
			t.Errorf("%s: the connection stays open with the body's rest unread", strings.Fields(req)[0])
		}
	}
}
