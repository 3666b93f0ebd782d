package fastlane

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/tlsconf"
	"github.com/nixbucket/nixbucket/internal/tlsconf/tlstest"
)

// blocked counts the requests that reached /block.
var blocked atomic.Int32

// boundsHandler serves what the connection-bounds tests need: /file a
// file through ServeContent (sendfile), /write the same bytes in one
// Write, /block waits for release (reading any body first, then counting
// itself in blocked), anything else a short answer.
func boundsHandler(t *testing.T, body []byte, release <-chan struct{}) http.Handler {
	file := filepath.Join(t.TempDir(), "nar")
	if err := os.WriteFile(file, body, 0o644); err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/file":
			f, err := os.Open(file)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			http.ServeContent(w, r, "", time.Time{}, f)
		case "/write":
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		case "/block":
			io.Copy(io.Discard, r.Body)
			blocked.Add(1)
			<-release
			io.WriteString(w, "released")
		default:
			io.WriteString(w, "ok")
		}
	})
}

// startBounded serves h behind a Listener with opts, net/http following
// its connection states as serve does.
func startBounded(t *testing.T, h http.Handler, opts Options) (string, *Listener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := NewListener(ln, h, opts)
	hs := &http.Server{Handler: h, ReadHeaderTimeout: opts.ReadHeaderTimeout, ConnState: fl.ConnState, TLSConfig: opts.TLS}
	go hs.Serve(fl)
	t.Cleanup(func() {
		hs.Close()
		fl.Cut()
	})
	return ln.Addr().String(), fl
}

// idleConns counts the connections the Listener sees waiting for a
// request.
func idleConns(l *Listener) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for m := range l.conns {
		if ok, _ := m.idle(); ok {
			n++
		}
	}
	return n
}

// waitFor polls cond for up to limit.
func waitFor(limit time.Duration, cond func() bool) bool {
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// closedByServer reports whether c is closed from the server's side
// within limit: a read ends with EOF or a reset rather than a timeout.
func closedByServer(c net.Conn, limit time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(limit))
	_, err := io.Copy(io.Discard, c)
	return err == nil || !errors.Is(err, os.ErrDeadlineExceeded)
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// roundTrip sends one request on c and reads its answer.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, raw string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStalledReaderIsCut: a client that pipelines GETs and never reads
// fills the socket buffers, and then its connection is closed once the
// write deadline passes, on the fast lane and on net/http alike, over TCP
// and over TLS. Before, both waited forever.
func TestStalledReaderIsCut(t *testing.T) {
	body := bytes.Repeat([]byte("stalled "), 64<<10/8)
	for _, tc := range boundsCases {
		t.Run(tc.name, func(t *testing.T) {
			opts, client := tc.options(t, Options{WriteTimeout: 300 * time.Millisecond})
			addr, fl := startBounded(t, boundsHandler(t, body, nil), opts)
			c := dialBounded(t, addr, client, 4<<10)
			if _, err := io.WriteString(c, strings.Repeat("GET "+tc.target+" HTTP/1.1\r\nHost: x\r\n\r\n", 400)); err != nil {
				t.Fatal(err)
			}
			// A generous bound, not a timing: the deadline is 300 ms, but
			// a CI machine running the e2e suites beside this once took
			// over 10 s to get the TLS fast lane's handler scheduled.
			if !waitFor(60*time.Second, func() bool { return fl.Conns() == 0 }) {
				t.Fatalf("%d connections still open 60s after the client stopped reading (write timeout 300ms)", fl.Conns())
			}
		})
	}
}

// boundsCases are the transports the deadline tests run on: the fast lane
// and net/http (a query string hands the request over), writing with
// Write and with sendfile, over TCP and over TLS (where sendfile turns
// into writes through the record layer).
var boundsCases = []boundsCase{
	{"fastlane-write", "/write", false},
	{"fastlane-sendfile", "/file", false},
	{"net/http-write", "/write?handed=over", false},
	{"net/http-sendfile", "/file?handed=over", false},
	{"tls-fastlane-write", "/write", true},
	{"tls-fastlane-file", "/file", true},
	{"tls-net/http-write", "/write?handed=over", true},
	{"tls-net/http-file", "/file?handed=over", true},
}

// options adds a throwaway certificate to opts for a TLS case, and returns
// the client configuration that trusts it (nil for plain TCP).
type boundsCase struct {
	name, target string
	tls          bool
}

func (tc boundsCase) options(t *testing.T, opts Options) (Options, *tls.Config) {
	if !tc.tls {
		return opts, nil
	}
	ca := tlstest.NewCA(t, "bounds CA")
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.Issue(t, cert, key, "bounds", "127.0.0.1")
	r, err := tlsconf.NewReloader(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := r.Config()
	cfg.NextProtos = []string{"http/1.1"}
	opts.TLS = cfg
	client := ca.ClientConfig()
	client.NextProtos = []string{"http/1.1"}
	client.ServerName = "127.0.0.1"
	return opts, client
}

// dialBounded connects to addr with a small receive buffer, over TLS when
// client is set.
func dialBounded(t *testing.T, addr string, client *tls.Config, rcvbuf int) net.Conn {
	t.Helper()
	c := dial(t, addr)
	c.SetReadBuffer(rcvbuf)
	if client == nil {
		return c
	}
	tc := tls.Client(c, client)
	tc.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tc.SetDeadline(time.Time{})
	return tc
}

// TestSlowReaderFinishes: a client reading slowly but steadily gets the
// whole body although it takes many write timeouts: the deadline moves
// with progress, through one big Write and through sendfile, over TCP and
// over TLS.
func TestSlowReaderFinishes(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 6<<20/16)
	const timeout = 500 * time.Millisecond
	for _, tc := range boundsCases {
		t.Run(tc.name, func(t *testing.T) {
			opts, client := tc.options(t, Options{WriteTimeout: timeout})
			addr, _ := startBounded(t, boundsHandler(t, body, nil), opts)
			// A 16 KiB receive buffer makes the kernel wake a blocked
			// writer only once much of the queue drained; over TLS its
			// small records then crawl through the tiny window (a
			// loopback artefact), so TLS reads with 64 KiB.
			rcvbuf := 16 << 10
			if tc.tls {
				rcvbuf = 64 << 10
			}
			c := dialBounded(t, addr, client, rcvbuf)
			c.SetDeadline(time.Now().Add(60 * time.Second))
			io.WriteString(c, "GET "+tc.target+" HTTP/1.1\r\nHost: x\r\n\r\n")
			start := time.Now()
			br := bufio.NewReaderSize(c, 16<<10)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			buf := make([]byte, 16<<10)
			for {
				// Whole buffers, so TLS's small records don't slow the
				// reader further.
				n, err := io.ReadFull(resp.Body, buf)
				got.Write(buf[:n])
				if err == io.EOF || err == io.ErrUnexpectedEOF {
					break
				}
				if err != nil {
					t.Fatalf("after %d bytes in %v: %v", got.Len(), time.Since(start), err)
				}
				time.Sleep(6 * time.Millisecond) // under 3 MB/s
			}
			if !bytes.Equal(got.Bytes(), body) {
				t.Fatalf("got %d bytes, want %d", got.Len(), len(body))
			}
			if took := time.Since(start); took < 3*timeout {
				t.Fatalf("the download took %v, not several write timeouts: the test proves nothing", took)
			}
		})
	}
}

// TestSilentSocketClosedByHeaderTimeout: a connection that never sends
// its first request is closed after the header timeout, not after the
// (much longer) idle timeout.
func TestSilentSocketClosedByHeaderTimeout(t *testing.T) {
	addr, fl := startBounded(t, boundsHandler(t, nil, nil), Options{ReadHeaderTimeout: 200 * time.Millisecond, IdleTimeout: time.Minute})
	c := dial(t, addr)
	if !closedByServer(c, 5*time.Second) {
		t.Fatal("silent connection still open 5s in (header timeout 200ms)")
	}
	if !waitFor(time.Second, func() bool { return fl.Conns() == 0 }) {
		t.Fatalf("%d connections counted after the silent one closed", fl.Conns())
	}
}

// TestMaxConnsEvictsSilentSockets: with a cap of 50, 200 silent sockets
// leave at most 50 open (the newest), and a new client is served at once
// although the header timeout is long.
func TestMaxConnsEvictsSilentSockets(t *testing.T) {
	const max, silent = 50, 200
	addr, fl := startBounded(t, boundsHandler(t, nil, nil), Options{MaxConns: max, ReadHeaderTimeout: time.Minute})
	var socks []*net.TCPConn
	for range silent {
		socks = append(socks, dial(t, addr))
	}
	// Wait until all were accepted: the last ones are counted.
	if !waitFor(10*time.Second, func() bool { return fl.Conns() == max }) {
		t.Fatalf("%d connections open, want the cap %d", fl.Conns(), max)
	}
	if !closedByServer(socks[0], 5*time.Second) {
		t.Error("the oldest silent socket is still open")
	}
	c := dial(t, addr)
	if got := roundTrip(t, c, bufio.NewReader(c), "GET /x HTTP/1.1\r\nHost: x\r\n\r\n"); got != "ok" {
		t.Fatalf("new client got %q", got)
	}
	if n := fl.Conns(); n > max {
		t.Fatalf("%d connections open, over the cap %d", n, max)
	}
}

// TestMaxConnsRefusesWhenAllBusy: when every connection, on either
// transport, has a request in flight, a new one is closed at once; once
// they finish, new ones are served again.
func TestMaxConnsRefusesWhenAllBusy(t *testing.T) {
	release := make(chan struct{})
	blocked.Store(0)
	addr, fl := startBounded(t, boundsHandler(t, nil, release), Options{MaxConns: 2})
	busy := []string{
		"GET /block HTTP/1.1\r\nHost: x\r\n\r\n",                        // fast lane
		"PUT /block HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok", // net/http
	}
	var conns []*net.TCPConn
	for _, raw := range busy {
		c := dial(t, addr)
		io.WriteString(c, raw)
		conns = append(conns, c)
	}
	if !waitFor(5*time.Second, func() bool { return blocked.Load() == 2 }) {
		t.Fatalf("%d requests reached the handler, want 2", blocked.Load())
	}
	start := time.Now()
	if c := dial(t, addr); !closedByServer(c, 5*time.Second) {
		t.Fatal("a connection over the cap was kept although none is idle")
	}
	t.Logf("over the cap: closed in %v", time.Since(start))
	close(release)
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("busy request %d: %v", i, err)
		}
		c.Close()
	}
	if !waitFor(5*time.Second, func() bool { return fl.Conns() == 0 }) {
		t.Fatalf("%d connections counted after all closed", fl.Conns())
	}
	c := dial(t, addr)
	if got := roundTrip(t, c, bufio.NewReader(c), "GET /x HTTP/1.1\r\nHost: x\r\n\r\n"); got != "ok" {
		t.Fatalf("after the busy ones finished: %q", got)
	}
}

// TestMaxConnsEvictsIdleFirst: over the cap, the keep-alive connections
// idle longest go first, on the fast lane and handed over to net/http,
// while a connection with a request in flight stays.
func TestMaxConnsEvictsIdleFirst(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	blocked.Store(0)
	addr, fl := startBounded(t, boundsHandler(t, nil, release), Options{MaxConns: 3})
	laneIdle := dial(t, addr)
	roundTrip(t, laneIdle, bufio.NewReader(laneIdle), "GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
	httpIdle := dial(t, addr)
	roundTrip(t, httpIdle, bufio.NewReader(httpIdle), "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	// net/http says a connection is idle just after its answer is out.
	if !waitFor(5*time.Second, func() bool { return idleConns(fl) == 2 }) {
		t.Fatalf("%d connections idle, want 2", idleConns(fl))
	}
	busy := dial(t, addr)
	io.WriteString(busy, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
	if !waitFor(5*time.Second, func() bool { return blocked.Load() == 1 }) {
		t.Fatalf("%d requests reached the handler, want 1", blocked.Load())
	}
	if n := fl.Conns(); n != 3 {
		t.Fatalf("%d connections open, want 3", n)
	}

	for i, evicted := range []*net.TCPConn{laneIdle, httpIdle} {
		c := dial(t, addr)
		if got := roundTrip(t, c, bufio.NewReader(c), "GET /x HTTP/1.1\r\nHost: x\r\n\r\n"); got != "ok" {
			t.Fatalf("new client %d got %q", i, got)
		}
		if !closedByServer(evicted, 5*time.Second) {
			t.Fatalf("new client %d: the longest idle connection is still open", i)
		}
	}
	once.Do(func() { close(release) })
	busy.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the busy connection: %v", err)
	}
}

// TestCutClosesRequestsInFlight: Cut closes connections with requests in
// flight on both transports and says how many.
func TestCutClosesRequestsInFlight(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	blocked.Store(0)
	addr, fl := startBounded(t, boundsHandler(t, nil, release), Options{})
	a, b := dial(t, addr), dial(t, addr)
	io.WriteString(a, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n")
	io.WriteString(b, "PUT /block HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok")
	if !waitFor(5*time.Second, func() bool { return blocked.Load() == 2 }) {
		t.Fatalf("%d requests reached the handler, want 2", blocked.Load())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := fl.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with requests in flight: %v", err)
	}
	if n := fl.Cut(); n != 2 {
		t.Errorf("Cut closed %d, want 2", n)
	}
	for _, c := range []*net.TCPConn{a, b} {
		if !closedByServer(c, 5*time.Second) {
			t.Error("a connection is still open after Cut")
		}
	}
}

// TestSameSlowHeadBound: a request head is bounded by ReadHeaderTimeout
// from its first byte (the first request: from the connection's start),
// once, as net/http bounds it; neither a silent start nor a field that
// hands the request over to net/http half-way starts the clock again. Each
// piece below comes within the timeout (1s) of the one before, the whole
// head not: both servers close without an answer. (Were a piece late, the
// connection would be closed all the same: the test only loses its edge.)
func TestSameSlowHeadBound(t *testing.T) {
	laneAddr, plainAddr := servers(t)
	const gap = 600 * time.Millisecond
	for _, tc := range []struct {
		name   string
		first  string // sent and answered before the slow head, if not ""
		pieces []string
	}{
		{"silent then slow", "", []string{"", "GET /small HTTP/1.1\r\nHost: x\r\n", "\r\n"}},
		{"slow then handed over", "", []string{"GET /small HTTP/1.1\r\nHost: x\r\n", "Content-Length: 0\r\n", "\r\n"}},
		{"kept then handed over", get("/small"), []string{"GET /small HTTP/1.1\r\nHost: x\r\n", "Content-Length: 0\r\n", "\r\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			run := func(addr string) string {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				br := bufio.NewReader(c)
				if tc.first != "" {
					io.WriteString(c, tc.first)
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Fatalf("%s: first answer: %v", addr, err)
					}
					io.Copy(io.Discard, resp.Body)
				}
				for i, p := range tc.pieces {
					if i > 0 {
						time.Sleep(gap)
					}
					io.WriteString(c, p) // may fail once the server has closed
				}
				if resp, err := http.ReadResponse(br, nil); err == nil {
					return resp.Status
				}
				return "closed without an answer"
			}
			lane, plain := run(laneAddr), run(plainAddr)
			if lane != plain {
				t.Errorf("fastlane: %s; net/http: %s", lane, plain)
			}
		})
	}
}
