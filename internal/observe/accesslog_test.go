package observe

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// blockedWriter blocks every Write until released.
type blockedWriter struct {
	release chan struct{}
	mu      sync.Mutex
	b       bytes.Buffer
}

func (w *blockedWriter) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func testEntry(i int) *Entry {
	return &Entry{Time: time.Date(2026, 12, 5, 1, 2, 3, 456000000, time.UTC), RequestID: "rid", Remote: "127.0.0.1:1",
		Principal: "anonymous", Protocol: "nix", Operation: "Narinfo", Method: "GET", Bucket: "cache",
		Key: strings.Repeat("k", i%7) + ".narinfo", Status: 200, BytesOut: int64(i), Duration: time.Millisecond}
}

// TestAccessLogBlockedWriter: a writer that never returns never blocks
// Log; the lines past the queue are dropped and counted.
func TestAccessLogBlockedWriter(t *testing.T) {
	w := &blockedWriter{release: make(chan struct{})}
	var logs bytes.Buffer
	a := NewAccessLog(w, true, slog.New(slog.NewTextHandler(&logs, nil)))
	done := make(chan struct{})
	// ~17 MB: over twice what the queue and the batch held by the blocked
	// writer can take together (2 × 4 MiB), so some lines must drop.
	const lines = 60000
	go func() {
		defer close(done)
		for i := range lines {
			a.Log(testEntry(i))
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Minute): // generous: a blocked Log never returns
		t.Fatal("Log blocked behind a blocked writer")
	}
	dropped := a.Dropped()
	if dropped == 0 || dropped >= lines {
		t.Fatalf("dropped %d of %d lines, want some but not all", dropped, lines)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	if err := a.Close(ctx); err == nil {
		t.Error("Close returned with the writer blocked")
	}
	cancel()
	close(w.release)
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// What was not dropped was written, whole lines each.
	w.mu.Lock()
	out := w.b.String()
	w.mu.Unlock()
	n := strings.Count(out, "\n")
	if uint64(n)+dropped != lines {
		t.Errorf("%d lines written + %d dropped, want %d", n, dropped, lines)
	}
	for _, line := range strings.SplitN(out, "\n", 3)[:2] {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("line %q: %v", line, err)
		}
	}
	if !strings.Contains(logs.String(), "access log lines dropped") || !strings.Contains(logs.String(), "total="+strconv.FormatUint(dropped, 10)) {
		t.Errorf("the drops were not reported in the log:\n%s", logs.String())
	}
	a.Log(testEntry(0))
	if a.Dropped() != dropped+1 {
		t.Errorf("a line logged after Close: dropped %d, want %d", a.Dropped(), dropped+1)
	}
}

// TestAccessLogFlushOnClose: Close writes out every line queued.
func TestAccessLogFlushOnClose(t *testing.T) {
	var out bytes.Buffer
	a := NewAccessLog(&out, false, nil)
	for i := range 100 {
		a.Log(testEntry(i))
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 100 || a.Dropped() != 0 {
		t.Errorf("%d lines written, %d dropped; want 100, 0", n, a.Dropped())
	}
}

// TestEntryFormats: the lines are what slog's handlers write for the
// same record, in both formats, escapes included.
func TestEntryFormats(t *testing.T) {
	for _, e := range []*Entry{
		testEntry(3),
		{Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600)), RequestID: "r", Remote: "[::1]:5",
			Principal: "ci", Token: "tok", Protocol: "s3", Operation: "PutObject", Method: "PUT", Bucket: "b",
			Key: "we\"ird key=\n\t\x01\u2028\xff/é", Status: 500, BytesIn: 1 << 40, Duration: 1500 * time.Microsecond},
		{Time: time.Unix(0, 0).UTC(), Principal: "anonymous", Protocol: "s3", Operation: "ListBuckets", Method: "GET", Status: 200},
	} {
		attrs := []any{"id", e.RequestID, "remote", e.Remote, "principal", e.Principal}
		if e.Token != "" {
			attrs = append(attrs, "token", e.Token)
		}
		attrs = append(attrs, "protocol", e.Protocol, "operation", e.Operation, "method", e.Method)
		if e.Bucket != "" {
			attrs = append(attrs, "bucket", e.Bucket)
		}
		if e.Key != "" {
			attrs = append(attrs, "key", e.Key)
		}
		attrs = append(attrs, "status", e.Status, "bytes_in", e.BytesIn, "bytes_out", e.BytesOut, "duration", e.Duration)
		for _, json := range []bool{false, true} {
			var want bytes.Buffer
			var h slog.Handler = slog.NewTextHandler(&want, nil)
			if json {
				h = slog.NewJSONHandler(&want, nil)
			}
			r := slog.NewRecord(e.Time, slog.LevelInfo, "request", 0)
			r.Add(attrs...)
			if err := h.Handle(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			var got []byte
			if json {
				got = e.appendJSON(nil)
			} else {
				got = e.appendText(nil)
			}
			if string(got) != want.String() {
				t.Errorf("json=%v:\n got %s\nwant %s", json, got, want.String())
			}
		}
	}
}

// TestLogAllocs: a line costs no allocation in steady state.
func TestLogAllocs(t *testing.T) {
	a := NewAccessLog(io.Discard, true, nil)
	defer a.Close(context.Background())
	e := testEntry(1)
	a.Log(e)
	if n := testing.AllocsPerRun(1000, func() { a.Log(e) }); n > 0.05 {
		t.Errorf("Log allocates %v times per line", n)
	}
}

// TestAppendStamp: the cached second gives what formatting each time
// whole gives, across seconds, zones and the epoch.
func TestAppendStamp(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("X", 3600), time.FixedZone("Y", -(5*3600 + 1800)), time.Local}
	base := time.Date(2026, 12, 5, 6, 59, 58, 0, time.UTC)
	for i := range 400 {
		for _, z := range zones {
			tm := base.Add(time.Duration(i) * 7919 * time.Microsecond).In(z)
			if i%50 == 0 {
				tm = time.Unix(-1, int64(i)*1e6).In(z) // before the epoch
			}
			got := string(appendStamp(nil, tm))
			if want := tm.Format("2006-01-02T15:04:05.000Z07:00"); got != want {
				t.Fatalf("appendStamp(%v) = %q, want %q", tm, got, want)
			}
		}
	}
}
