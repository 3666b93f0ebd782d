package upstream

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// mute is a TCP listener that accepts connections and never answers, as
// an overloaded or wedged upstream does.
func mute(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + l.Addr().String()
}

// TestNarinfoTimeout: a narinfo request to an upstream that accepts and
// never answers fails after NarinfoTimeout, not the source's first-byte
// timeout (an hour here), and the source is then skipped without a
// request; other requests keep the source's timeouts.
func TestNarinfoTimeout(t *testing.T) {
	url := mute(t)
	opts := SourceOptions{Timeouts: Timeouts{FirstByte: time.Hour}}
	f := New(Config{Sources: []Source{httpSourceFor(t, url, opts)}, TrustAny: true, NarinfoTimeout: 200 * time.Millisecond})
	began := time.Now()
	_, err := f.Narinfo(t.Context(), hashA)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no answer within 200ms") {
		t.Fatalf("Narinfo = %v, want ErrUnavailable after no answer within 200ms", err)
	}
	// Generous: the point is 200 ms rather than the hour.
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("Narinfo took %v", d)
	}
	// Down now: the next lookup sends nothing.
	if _, err := f.Narinfo(t.Context(), "1c2kb3ix3x6w4a5ijfbaqgzkzdnlyrsh"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("second Narinfo = %v, want ErrUnavailable", err)
	}
	if st := f.Stats()[0]; st.Fetches != 1 || st.Errors != 1 {
		t.Errorf("stats %+v, want 1 request, failed", st)
	}

	// The default applies when unset.
	if g := New(Config{Sources: []Source{httpSourceFor(t, url, opts)}}); g.niWait != DefaultNarinfoTimeout {
		t.Errorf("default narinfo timeout %v, want %v", g.niWait, DefaultNarinfoTimeout)
	}

	// Open (listings, logs, NAR ranges) waits as long as its caller lets
	// it: here until the context's deadline, not the narinfo timeout.
	g := New(Config{Sources: []Source{httpSourceFor(t, url, opts)}, NarinfoTimeout: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if _, _, _, err := g.Open(ctx, "nix-cache-info", nil); err == nil || strings.Contains(err.Error(), "no answer within") || ctx.Err() == nil {
		t.Errorf("Open = %v (context %v), want it to end with the context", err, ctx.Err())
	}
}
