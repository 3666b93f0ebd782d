package fastlane

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Server serves h over TLS the way nixbucket serve does (Options.Server
// set, so net/http's HTTP/2 streams go through boundStreams).
func h2Server(t *testing.T, h http.Handler, opts Options) (string, *tls.Config, *Listener) {
	t.Helper()
	ln, hs, client := tlsListen(t, h)
	opts.Server, opts.TLS = hs, hs.TLSConfig
	fl := NewListener(ln, nil, opts)
	go hs.Serve(fl)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Close()
		fl.Shutdown(ctx)
	})
	return ln.Addr().String(), client, fl
}

// windowless opens an HTTP/2 connection that grants the server no
// flow-control window, asks for path on n streams, and records the
// status each stream's HEADERS carry and which streams were reset.
type windowless struct {
	mu     sync.Mutex
	status map[uint32]string
	reset  map[uint32]bool
}

func openWindowless(t *testing.T, addr string, client *tls.Config, path string, n int) *windowless {
	t.Helper()
	cfg := client.Clone()
	cfg.NextProtos = []string{"h2"}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if c.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatalf("negotiated %q, want h2", c.ConnectionState().NegotiatedProtocol)
	}
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for i := range n {
		hb.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", addr}, {":path", path}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
	}
	w := &windowless{status: map[uint32]string{}, reset: map[uint32]bool{}}
	go func() {
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			w.mu.Lock()
			switch f := f.(type) {
			case *http2.MetaHeadersFrame:
				w.status[f.StreamID] = f.PseudoValue("status")
			case *http2.RSTStreamFrame:
				w.reset[f.StreamID] = true
			case *http2.SettingsFrame:
				if !f.IsAck() {
					fr.WriteSettingsAck()
				}
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *windowless) count(status string) (answered, reset int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.status {
		if s == status {
			answered++
		}
	}
	return answered, len(w.reset)
}

// stallHandler answers 64 KiB, more than the 4 KiB net/http's HTTP/2
// writer buffers, and counts the handlers that have returned.
func stallHandler(returned *atomic.Int64) http.Handler {
	body := bytes.Repeat([]byte("s"), 64<<10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer returned.Add(1)
		w.Write(body)
	})
}

// TestStalledStreamIsReset: an HTTP/2 client that grants no window blocks
// each stream's handler in its write; the write deadline resets the
// streams and the handlers return. Before, they waited forever, 250 per
// connection.
func TestStalledStreamIsReset(t *testing.T) {
	var returned atomic.Int64
	addr, client, fl := h2Server(t, stallHandler(&returned), Options{WriteTimeout: 300 * time.Millisecond})
	w := openWindowless(t, addr, client, "/nar", 5)
	if !waitFor(10*time.Second, func() bool { return returned.Load() == 5 && fl.Streams() == 0 }) {
		_, reset := w.count("")
		t.Fatalf("%d of 5 handlers returned, %d streams served, %d reset, 10s after a client granted no window (write timeout 300ms)",
			returned.Load(), fl.Streams(), reset)
	}
	if !waitFor(10*time.Second, func() bool { _, reset := w.count(""); return reset == 5 }) {
		_, reset := w.count("")
		t.Fatalf("%d of 5 stalled streams reset", reset)
	}
}

// TestStreamCap: streams count against MaxConns together, whatever
// connection carries them; those over it are answered 503 at once.
// Before, each connection could hold 250 stalled handlers.
func TestStreamCap(t *testing.T) {
	var returned atomic.Int64
	addr, client, fl := h2Server(t, stallHandler(&returned), Options{WriteTimeout: time.Hour, MaxConns: 4})
	w := openWindowless(t, addr, client, "/nar", 6)
	if !waitFor(10*time.Second, func() bool { n, _ := w.count("503"); return n == 2 }) {
		n, _ := w.count("503")
		t.Fatalf("%d of 6 streams answered 503 with a cap of 4 (%d served)", n, fl.Streams())
	}
	if got := fl.Streams(); got != 4 {
		t.Errorf("%d streams served, want the cap, 4", got)
	}
}

// TestStreamsServeWhole: a client that reads gets its whole answer over
// HTTP/2 through the bounds, in several writes and one big one.
func TestStreamsServeWhole(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(body[:1000])
		http.NewResponseController(w).Flush()
		w.Write(body[1000:])
	})
	addr, client, _ := h2Server(t, h, Options{WriteTimeout: time.Minute, MaxConns: 4})
	tr := &http.Transport{TLSClientConfig: client, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/nar")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 || !bytes.Equal(got, body) {
		t.Fatalf("HTTP/%d, %d bytes, want HTTP/2 and the %d bytes sent", resp.ProtoMajor, len(got), len(body))
	}
}
