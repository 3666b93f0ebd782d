package fastlane

import (
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRefusal(t *testing.T) {
	for _, c := range []struct {
		write  string
		status int
		body   int64
		ok     bool
	}{
		{"HTTP/1.1 431 Request Header Fields Too Large" + refusalHeaders + "431 Request Header Fields Too Large", 431, 35, true},
		{"HTTP/1.1 400 Bad Request: missing required Host header" + refusalHeaders + "400 Bad Request: missing required Host header", 400, 45, true},
		{"HTTP/1.1 505 HTTP Version Not Supported: unsupported protocol version" + refusalHeaders + "505 HTTP Version Not Supported: unsupported protocol version", 505, 60, true},
		{"HTTP/1.1 501 Not Implemented" + refusalHeaders + "Unsupported transfer encoding", 501, 29, true},
		{"HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nDate: Sun, 06 Dec 2026 12:22:41 GMT\r\nContent-Length: 0\r\n\r\n", 417, 0, true},
		{"HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nDate: Sun, 06 Dec 2026 12:22:41 GMT\r\nContent-Length: 0\r\nX-Amz-Request-Id: 1\r\n\r\n", 0, 0, false},
		// A handler's answers: headers of its own before or between.
		{"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nX-Amz-Request-Id: 1\r\nConnection: close\r\n\r\nno", 0, 0, false},
		{"HTTP/1.1 400 Bad Request\r\nX-Amz-Request-Id: 1" + refusalHeaders + "no", 0, 0, false},
		{"HTTP/1.1 200 OK" + refusalHeaders + "fine", 0, 0, false},
		{"HTTP/1.1 100 Continue\r\n\r\n", 0, 0, false},
		{"body bytes HTTP/1.1 400 Bad Request" + refusalHeaders, 0, 0, false},
	} {
		status, body, ok := refusal([]byte(c.write))
		if status != c.status || body != c.body || ok != c.ok {
			t.Errorf("refusal(%q) = %d, %d, %v; want %d, %d, %v", c.write, status, body, ok, c.status, c.body, c.ok)
		}
	}
}

// TestRefusalNotForged: Options.Refused hears of net/http's own answers
// to requests it could not read, on a connection's first request and
// after others, and of nothing a handler writes. A handler's body is
// the client's bytes at times (an object, a log), and net/http writes
// it in pieces of its buffer's size: a piece that reads as a refusal
// made a log line and a count of a refusal that never was.
func TestRefusalNotForged(t *testing.T) {
	fake := "HTTP/1.1 431 Request Header Fields Too Large" + refusalHeaders + "431 Request Header Fields Too Large"
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amz-Request-Id", "1")
		w.Header().Set("Content-Length", strconv.Itoa(len("body:")+len(fake)))
		io.WriteString(w, "body:")
		w.(http.Flusher).Flush() // net/http's buffer filled up: the head and "body:" go
		io.WriteString(w, fake)  // the rest, written whole as the answer ends
	})}
	var mu sync.Mutex
	var refused []int
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := NewListener(ln, nil, Options{Server: hs, Passthrough: true, Refused: func(_ net.Addr, status int, _ int64) {
		mu.Lock()
		defer mu.Unlock()
		refused = append(refused, status)
	}})
	go hs.Serve(fl)
	t.Cleanup(func() { hs.Close(); fl.Close() })

	for _, tc := range []struct {
		name, raw string
		want      []int
	}{
		{"a handler's answer", "GET /k HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", nil},
		{"a bad head first", "GET /k HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", []int{400}},
		{"a bad head after an answer", "GET /k HTTP/1.1\r\nHost: a\r\n\r\nGET /k HTTP/1.1\r\n\r\n", []int{400}},
		{"a bad head after a body", "PUT /k HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiG@T /k HTTP/1.1\r\nHost: a\r\n\r\n", []int{400}},
	} {
		mu.Lock()
		refused = nil
		mu.Unlock()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(c, tc.raw)
		got, err := io.ReadAll(c) // the server closes the connection
		c.Close()
		if err != nil && len(tc.want) > 0 {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.want == nil && !strings.Contains(string(got), "body:"+fake) {
			t.Fatalf("%s: the client got %q", tc.name, got)
		}
		// Refused runs before net/http closes the connection.
		mu.Lock()
		if !slices.Equal(refused, tc.want) {
			t.Errorf("%s: refusals heard %v, want %v", tc.name, refused, tc.want)
		}
		mu.Unlock()
	}
}
