package fastlane

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// offering is a handler that answers 403 with its request id in two
// headers and in the body, offers every answer of /offered (and of /big,
// too big to keep) that is Wanted for repeats, and counts the requests it
// served.
type offering struct {
	served atomic.Int64
	ids    atomic.Int64
	still  atomic.Bool

	mu    sync.Mutex
	given []string // ids of the repeats, as Given recorded them
}

func (o *offering) NewID() string { return fmt.Sprintf("%016x", o.ids.Add(1)) }

func (o *offering) Still(ctx context.Context) bool { return o.still.Load() }

func (o *offering) Given(remote, id string, start time.Time, d time.Duration) {
	o.mu.Lock()
	o.given = append(o.given, id)
	o.mu.Unlock()
}

func (o *offering) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.served.Add(1)
	id := o.NewID()
	w.Header().Set("X-Amz-Request-Id", id)
	w.Header().Set("X-Amz-Id-2", id)
	w.Header().Set("Content-Type", "application/xml")
	body := "<Error><Code>AccessDenied</Code><RequestId>" + id + "</RequestId></Error>"
	if r.URL.Path == "/big" {
		body += strings.Repeat(" ", 3<<10)
	}
	if r.URL.Path != "/plain" && Wanted(r) {
		Offer(r, id, o)
	}
	w.WriteHeader(http.StatusForbidden)
	io.WriteString(w, body)
}

// answer is one response read back: its status, request id, Date and
// body.
type answer struct {
	status        int
	id, id2, body string
	date          string
}

func ask(t *testing.T, addr, raw string) answer {
	t.Helper()
	out, _ := exchange(t, addr, raw, []string{http.MethodGet})
	// exchange drops Date; read it from a second look at the raw answer.
	var a answer
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "403 ") || strings.HasPrefix(line, "200 "):
			fmt.Sscan(line, &a.status)
		case strings.HasPrefix(line, "X-Amz-Request-Id: "):
			a.id = strings.Trim(strings.TrimPrefix(line, "X-Amz-Request-Id: "), `["]`)
		case strings.HasPrefix(line, "X-Amz-Id-2: "):
			a.id2 = strings.Trim(strings.TrimPrefix(line, "X-Amz-Id-2: "), `["]`)
		case strings.HasPrefix(line, "body "):
			a.body = line
		}
	}
	return a
}

// TestEncore gives a kept answer again to identical heads, with a fresh
// request id everywhere it appeared, and only while it still holds.
func TestEncore(t *testing.T) {
	o := &offering{}
	o.still.Store(true)
	tw := pair(t, o, nil)
	req := get("/offered", "User-Agent: Nix/2.8.0\r\n")

	seen := map[string]bool{}
	check := func(what string, wantServed int64) answer {
		t.Helper()
		a := ask(t, tw.lane, req)
		if a.status != http.StatusForbidden || a.id == "" || a.id != a.id2 || !strings.Contains(a.body, a.id) {
			t.Fatalf("%s: answer %+v", what, a)
		}
		if seen[a.id] {
			t.Fatalf("%s: request id %s given twice", what, a.id)
		}
		seen[a.id] = true
		if got := o.served.Load(); got != wantServed {
			t.Fatalf("%s: handler served %d requests, want %d", what, got, wantServed)
		}
		return a
	}
	check("first", 1)  // offered: only noted
	check("second", 2) // offered again: kept
	a := check("third", 2)
	check("fourth", 2)
	o.mu.Lock()
	given := append([]string(nil), o.given...)
	o.mu.Unlock()
	if len(given) != 2 || given[0] != a.id {
		t.Fatalf("repeats recorded as %q, want 2 beginning with %s", given, a.id)
	}

	// Another head (one more header) is another request.
	if a := ask(t, tw.lane, get("/offered", "User-Agent: Nix/2.8.0\r\nAccept: */*\r\n")); a.status != http.StatusForbidden {
		t.Fatalf("other head: %+v", a)
	}
	if got := o.served.Load(); got != 3 {
		t.Fatalf("another head was not served by the handler (%d served)", got)
	}
	// An answer that no longer holds is not given again.
	o.still.Store(false)
	check("after Still turned false", 4)
	check("again", 5)
	o.still.Store(true)
	// The head was seen before: the last handler's answer was kept.
	check("kept anew", 5)

	// HEAD is another head; a head asking to close is never kept.
	closing := get("/offered", "Connection: close\r\n")
	for range 3 {
		ask(t, tw.lane, closing)
	}
	if got := o.served.Load(); got != 8 {
		t.Fatalf("Connection: close heads: handler served %d, want 8", got)
	}
	// Answers too big to keep, and answers not offered, always run it.
	for _, path := range []string{"/big", "/plain"} {
		before := o.served.Load()
		for range 3 {
			ask(t, tw.lane, get(path))
		}
		if got := o.served.Load() - before; got != 3 {
			t.Fatalf("%s: handler served %d of 3", path, got)
		}
	}
	// net/http never repeats (Offer is a no-op there).
	before := o.served.Load()
	for range 3 {
		ask(t, tw.plain, req)
	}
	if got := o.served.Load() - before; got != 3 {
		t.Fatalf("net/http: handler served %d of 3", got)
	}
}

// TestEncorePipelined repeats answers within pipelined requests and keeps
// each answer's framing: the responses read back are whole and in order.
func TestEncorePipelined(t *testing.T) {
	o := &offering{}
	o.still.Store(true)
	tw := pair(t, o, nil)
	req := get("/offered")
	ask(t, tw.lane, req)
	ask(t, tw.lane, req)
	raw := strings.Repeat(req, 5) + get("/plain") + req
	out, _ := exchange(t, tw.lane, raw, []string{"GET", "GET", "GET", "GET", "GET", "GET", "GET"})
	if n := strings.Count(out, "403 Forbidden"); n != 7 {
		t.Fatalf("got %d answers of 7:\n%s", n, out)
	}
	if got := o.served.Load(); got != 3 {
		t.Fatalf("handler served %d requests, want 3 (two to keep the answer, /plain)", got)
	}
}
