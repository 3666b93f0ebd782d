package fastlane

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testHandler answers by path; X-Writer tells which transport served.
func testHandler(t testing.TB, file string) http.Handler {
	big := bytes.Repeat([]byte("0123456789abcdef"), 100<<10/16)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Writer", fmt.Sprintf("%T", w))
		switch r.URL.Path {
		case "/small":
			w.Header().Set("Content-Type", "text/x-nix-narinfo")
			w.Header()["Etag"] = []string{`"abc"`}
			io.WriteString(w, "StorePath: /nix/store/x\n")
		case "/sniff":
			io.WriteString(w, "<html><body>hi</body></html>")
		case "/declared":
			w.Header().Set("Content-Length", "11")
			io.WriteString(w, "hello ")
			io.WriteString(w, "world")
		case "/big":
			w.Header().Set("Content-Type", "application/octet-stream")
			for i := 0; i < len(big); i += 3000 {
				w.Write(big[i:min(i+3000, len(big))])
			}
		case "/big-declared":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			w.Write(big[:100])
			w.Write(big[100:])
		case "/file":
			f, err := os.Open(file)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			w.Header().Set("Content-Type", "application/x-nix-nar")
			http.ServeContent(w, r, "", time.Unix(1e9, 0), f)
		case "/file-spans":
			// A body of declared length sent as a pull-through NAR is:
			// a Write, then the file in spans, one ReadFrom each.
			f, err := os.Open(file)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			fi, _ := f.Stat()
			w.Header().Set("Content-Type", "application/x-nix-nar")
			w.Header().Set("Content-Length", fmt.Sprint(fi.Size()))
			head := make([]byte, 100)
			io.ReadFull(f, head)
			w.Write(head)
			rf := w.(io.ReaderFrom)
			for _, n := range []int64{1000, 70000, fi.Size()} {
				rf.ReadFrom(&io.LimitedReader{R: f, N: n})
			}
		case "/empty":
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/notmodified":
			w.Header().Set("Etag", `"x"`)
			w.WriteHeader(http.StatusNotModified)
		case "/short":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "12345")
		case "/echo":
			fmt.Fprintf(w, "%s %s %q %q %v %d\n", r.Method, r.Proto, r.Host, r.RequestURI, r.Close, r.ContentLength)
			fmt.Fprintf(w, "path=%q raw=%q query=%q\n", r.URL.Path, r.URL.RawPath, r.URL.RawQuery)
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			fmt.Fprintf(w, "remote=%s\n", host)
			for _, k := range slices.Sorted(func(yield func(string) bool) {
				for k := range r.Header {
					if !yield(k) {
						return
					}
				}
			}) {
				fmt.Fprintf(w, "%s=%q\n", k, r.Header[k])
			}
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "body=%q\n", body)
		case "/flush":
			io.WriteString(w, "part one,")
			w.(http.Flusher).Flush()
			io.WriteString(w, "part two")
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		case "/panic":
			panic(http.ErrAbortHandler)
		case "/panic-value":
			panic("boom")
		case "/panic-after-flush":
			io.WriteString(w, "sent before the panic")
			w.(http.Flusher).Flush()
			panic("boom")
		case "/error":
			http.Error(w, "no such thing", http.StatusNotFound)
		case "/hint":
			// A 1xx carries the fields so far, framing excepted.
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.Header().Set("Content-Length", "2")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			io.WriteString(w, "ok")
		default:
			// /len/A+B+... writes A bytes, then B, ...
			if sizes, ok := strings.CutPrefix(r.URL.Path, "/len/"); ok {
				for s := range strings.SplitSeq(sizes, "+") {
					n, _ := strconv.Atoi(s)
					w.Write(bytes.Repeat([]byte{'x'}, n))
				}
				return
			}
			http.NotFound(w, r)
		}
	})
}

// servers starts the handler behind fastlane and behind net/http alone.
func servers(t *testing.T) (lane, plain string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "nar")
	if err := os.WriteFile(file, bytes.Repeat([]byte("nar bytes "), 50000), 0o644); err != nil {
		t.Fatal(err)
	}
	tw := pair(t, testHandler(t, file), nil)
	return tw.lane, tw.plain
}

// twin is a handler served behind fastlane (lane, through fl and ls) and
// behind net/http alone (plain, through ps).
type twin struct {
	lane, plain string
	fl          *Listener
	ls, ps      *http.Server
}

// pair starts h behind fastlane and behind net/http alone, each on an
// http.Server made alike by conf (when not nil); the fastlane one is
// Options.Server.
func pair(t *testing.T, h http.Handler, conf func(*http.Server)) twin {
	t.Helper()
	mk := func() *http.Server {
		hs := &http.Server{Handler: h, MaxHeaderBytes: 32 << 10, ReadHeaderTimeout: time.Second,
			ErrorLog: log.New(io.Discard, "", 0)}
		if conf != nil {
			conf(hs)
		}
		return hs
	}
	ln1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs1, hs2 := mk(), mk()
	fl := NewListener(ln1, nil, Options{Server: hs1})
	go hs1.Serve(fl)
	go hs2.Serve(ln2)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs1.Shutdown(ctx)
		fl.Shutdown(ctx)
		hs2.Shutdown(ctx)
	})
	return twin{ln1.Addr().String(), ln2.Addr().String(), fl, hs1, hs2}
}

// exchange writes raw to addr and reads responses (one per method) until
// the server closes the connection or all came. It returns them
// normalised, and the X-Writer of each.
func exchange(t *testing.T, addr, raw string, methods []string) (string, []string) {
	t.Helper()
	return exchangeThen(t, addr, raw, methods, false)
}

// exchangeThen is exchange, and with halfClose the client closes its
// side of the connection once it has written raw.
func exchangeThen(t *testing.T, addr, raw string, methods []string, halfClose bool) (string, []string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	if halfClose {
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
	}
	br := bufio.NewReader(c)
	var out strings.Builder
	var writers []string
	for _, m := range methods {
		resp, err := http.ReadResponse(br, &http.Request{Method: m})
		if err != nil {
			fmt.Fprintf(&out, "read error: %v\n", errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF))
			break
		}
		body, err := io.ReadAll(resp.Body)
		writers = append(writers, resp.Header.Get("X-Writer"))
		if resp.Header.Get("Date") == "" && resp.Header.Get("X-Writer") == lane && resp.StatusCode >= 200 {
			t.Errorf("%s: response without Date", addr)
		}
		resp.Header.Del("Date")
		resp.Header.Del("X-Writer")
		if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "multipart/byteranges; boundary=") {
			b := strings.TrimPrefix(ct, "multipart/byteranges; boundary=")
			body = bytes.ReplaceAll(body, []byte(b), []byte("BOUNDARY"))
			resp.Header.Set("Content-Type", "multipart/byteranges; boundary=BOUNDARY")
		}
		fmt.Fprintf(&out, "%s len=%d te=%v close=%v\n", resp.Status, resp.ContentLength, resp.TransferEncoding, resp.Close)
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range resp.Header {
				if !yield(k) {
					return
				}
			}
		}) {
			fmt.Fprintf(&out, "%s: %q\n", k, resp.Header[k])
		}
		fmt.Fprintf(&out, "body %d %q err=%v\n\n", len(body), trim(body), err != nil)
	}
	return out.String(), writers
}

func trim(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

func get(path string, extra ...string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: cache.example\r\n" + strings.Join(extra, "") + "\r\n"
}

const lane = "*fastlane.response"

// TestSameAnswers sends the same bytes to fastlane and to net/http alone
// and wants the same responses, and fastlane serving the requests its
// parser accepts.
func TestSameAnswers(t *testing.T) {
	laneAddr, plainAddr := servers(t)
	g, h := "GET", "HEAD"
	cases := []struct {
		name    string
		raw     string
		methods []string
		writers []string // expected X-Writer through fastlane; nil: don't care
	}{
		{"small", get("/small"), []string{g}, []string{lane}},
		{"sniff", get("/sniff"), []string{g}, []string{lane}},
		{"declared", get("/declared"), []string{g}, []string{lane}},
		{"big chunked", get("/big"), []string{g}, []string{lane}},
		{"big declared", get("/big-declared"), []string{g}, []string{lane}},
		{"file", get("/file"), []string{g}, []string{lane}},
		{"file in spans", get("/file-spans") + get("/small"), []string{g, g}, []string{lane, lane}},
		{"file range", get("/file", "Range: bytes=10-99\r\n"), []string{g}, []string{lane}},
		{"file multirange", get("/file", "Range: bytes=0-9,20-29\r\n"), []string{g}, []string{lane}},
		{"file if-modified", get("/file", "If-Modified-Since: Sun, 09 Sep 2001 01:46:40 GMT\r\n"), []string{g}, []string{lane}},
		{"empty", get("/empty"), []string{g}, []string{lane}},
		{"204", get("/nocontent"), []string{g}, []string{lane}},
		{"304", get("/notmodified"), []string{g}, []string{lane}},
		{"short body closes", get("/short") + get("/small"), []string{g, g}, []string{lane}},
		{"flush", get("/flush"), []string{g}, []string{lane}},
		{"handler closes", get("/close") + get("/small"), []string{g, g}, []string{lane}},
		{"client closes", get("/small", "Connection: close\r\n") + get("/small"), []string{g, g}, []string{lane}},
		{"keep-alive", get("/small", "Connection: Keep-Alive\r\n"), []string{g}, []string{lane}},
		{"error", get("/error"), []string{g}, []string{lane}},
		{"panic", get("/panic"), []string{g}, nil},
		{"panic value", get("/panic-value"), []string{g}, nil},
		// A panic loses no answer produced before it.
		{"pipelined then panic", get("/small") + get("/declared") + get("/panic"), []string{g, g, g}, []string{lane, lane}},
		{"pipelined then panic value", get("/small") + get("/panic-value") + get("/small"), []string{g, g, g}, []string{lane}},
		{"pipelined then panic after flush", get("/small") + get("/panic-after-flush"), []string{g, g}, []string{lane, lane}},
		{"informational", get("/hint"), []string{g, g}, []string{lane, lane}},
		// net/http holds 2 KiB of a body of undeclared length: a body
		// ending within it gets a Content-Length, a longer one is chunked
		// on GET and has no length on HEAD.
		{"2048 in one", get("/len/2048"), []string{g}, []string{lane}},
		{"2049 in one", get("/len/2049"), []string{g}, []string{lane}},
		{"2048 in two", get("/len/1000+1048"), []string{g}, []string{lane}},
		{"2049 in two", get("/len/1000+1049"), []string{g}, []string{lane}},
		{"3000 in three", get("/len/1000+1000+1000"), []string{g}, []string{lane}},
		{"head 2048", "HEAD /len/2048 HTTP/1.1\r\nHost: x\r\n\r\n", []string{h}, []string{lane}},
		{"head 2049", "HEAD /len/2049 HTTP/1.1\r\nHost: x\r\n\r\n", []string{h}, []string{lane}},
		{"head 2049 in two", "HEAD /len/2000+49 HTTP/1.1\r\nHost: x\r\n\r\n", []string{h}, []string{lane}},
		{"head 4097", "HEAD /len/4097 HTTP/1.1\r\nHost: x\r\n\r\n", []string{h}, []string{lane}},
		{"head small", "HEAD /small HTTP/1.1\r\nHost: x\r\n\r\n", []string{h}, []string{lane}},
		{"head file", "HEAD /file HTTP/1.1\r\nHost: x\r\n\r\n", []string{h}, []string{lane}},
		{"head big", "HEAD /big HTTP/1.1\r\nHost: x\r\n\r\n", []string{h}, []string{lane}},
		{"head empty", "HEAD /empty HTTP/1.1\r\nHost: x\r\n\r\n", []string{h}, []string{lane}},
		{"pipelined", get("/small") + "HEAD /declared HTTP/1.1\r\nHost: x\r\n\r\n" + get("/big") + get("/file"),
			[]string{g, h, g, g}, []string{lane, lane, lane, lane}},
		{"echo", get("/echo", "User-Agent: curl/8\r\nAccept: */*\r\nX-Custom:  spaced value \r\nx-lower: 1\r\nX-Lower: 2\r\nauthorization: Basic Zm9vOmJhcg==\r\n"),
			[]string{g}, []string{lane}},
		{"echo odd path", get("/b/a:b;c=d@e,f$g&h+i~j//k/../l"), []string{g}, nil},
		{"echo host port", "GET /echo HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", []string{g}, []string{lane}},
		// Handed over to net/http.
		{"put", "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", []string{"PUT"}, []string{"*http.response"}},
		{"get then put then get", get("/small") + "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" + get("/echo"),
			[]string{g, "PUT", g}, []string{lane, "*http.response", "*http.response"}},
		{"query", get("/echo?a=b&c"), []string{g}, []string{"*http.response"}},
		{"escaped", get("/echo%20x"), []string{g}, []string{"*http.response"}},
		{"get with body", "GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", []string{g}, []string{"*http.response"}},
		{"chunked get", "GET /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", []string{g}, nil},
		{"expect", get("/echo", "Expect: 100-continue\r\n"), []string{g}, nil},
		{"http/1.0", "GET /echo HTTP/1.0\r\nHost: x\r\n\r\n", []string{g}, []string{"*http.response"}},
		{"post", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", []string{"POST"}, []string{"*http.response"}},
		{"big head", get("/echo", "X-Big: "+strings.Repeat("a", 12<<10)+"\r\n"), []string{g}, []string{"*http.response"}},
		{"many fields", get("/echo", strings.Repeat("X-F: v\r\n", maxFields+1)), []string{g}, []string{"*http.response"}},
		// Malformed: net/http answers.
		{"no host", "GET /echo HTTP/1.1\r\n\r\n", []string{g}, nil},
		{"two hosts", "GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", []string{g}, nil},
		{"bad host", "GET /echo HTTP/1.1\r\nHost: a b\r\n\r\n", []string{g}, nil},
		{"too big head", get("/echo", "X-Big: "+strings.Repeat("a", 40<<10)+"\r\n"), []string{g}, nil},
		{"bare lf", "GET /echo HTTP/1.1\nHost: x\n\n", []string{g}, nil},
		{"space before colon", "GET /echo HTTP/1.1\r\nHost : x\r\n\r\n", []string{g}, nil},
		{"folded", "GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", []string{g}, nil},
		{"control in value", "GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", []string{g}, nil},
		{"garbage", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", []string{g}, nil},
		{"absolute form", "GET http://x/echo HTTP/1.1\r\nHost: x\r\n\r\n", []string{g}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, writers := exchange(t, laneAddr, tc.raw, tc.methods)
			want, _ := exchange(t, plainAddr, tc.raw, tc.methods)
			// The port in an echoed Host differs; nothing else may.
			if got != want {
				t.Errorf("fastlane answered\n%s\nnet/http answered\n%s", got, want)
			}
			if tc.writers != nil && !slices.Equal(writers, tc.writers) {
				t.Errorf("served by %v, want %v", writers, tc.writers)
			}
		})
	}
}

// TestSlowClient sends a request a byte at a time: the parser must wait.
func TestSlowClient(t *testing.T) {
	addr, _ := servers(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw := get("/small") + "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok"
	for i := range len(raw) {
		c.Write([]byte{raw[i]})
		if i%7 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	br := bufio.NewReader(c)
	for _, want := range []string{lane, "*http.response"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("X-Writer") != want {
			t.Fatalf("got %s from %s, want 200 from %s", resp.Status, resp.Header.Get("X-Writer"), want)
		}
	}
}

// TestTimeouts: an idle connection and a head that never ends are closed.
func TestTimeouts(t *testing.T) {
	h := testHandler(t, "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := NewListener(ln, h, Options{IdleTimeout: 200 * time.Millisecond, ReadHeaderTimeout: 200 * time.Millisecond})
	hs := &http.Server{Handler: h}
	go hs.Serve(fl)
	defer hs.Close()
	for _, first := range []string{"", get("/small"), "GET /small HTTP/1.1\r\nHost: x\r\n"} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, first)
		start := time.Now()
		_, err = io.Copy(io.Discard, c) // returns when the server closes
		if err != nil {
			t.Errorf("after %q: %v, want the server to close", first, err)
		}
		if time.Since(start) > 3*time.Second {
			t.Errorf("after %q: not closed by the timeout", first)
		}
		c.Close()
	}
}

// TestShutdown: http.Server.Shutdown then Listener.Shutdown close idle
// connections at once, let a request in flight finish, and Serve returns
// ErrServerClosed.
func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "done")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := NewListener(ln, h, Options{})
	hs := &http.Server{Handler: h}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(fl) }()
	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(idle, get("/x"))
	if _, err := http.ReadResponse(bufio.NewReader(idle), nil); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(busy, get("/slow"))
	<-entered
	shut := make(chan error, 1)
	go func() {
		ctx := context.Background()
		if err := hs.Shutdown(ctx); err != nil {
			shut <- err
			return
		}
		shut <- fl.Shutdown(ctx)
	}()
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle connection: read %d, %v; want it closed", n, err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "done" || !resp.Close {
		t.Errorf("in-flight request: %q close=%v; want done, closing", body, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
}

// TestSameHalfClosed: a client that closes its side of the connection
// after its requests, whole or cut short, gets the answers net/http gives:
// every whole request answered, and a 400 for one cut short (net/http
// answers a request that ends early, and closes in silence only when
// nothing of a next request came).
func TestSameHalfClosed(t *testing.T) {
	laneAddr, plainAddr := servers(t)
	g := "GET"
	three := []string{g, g, g}
	for _, tc := range []struct{ name, raw string }{
		{"whole", get("/small")},
		{"two whole", get("/small") + get("/declared")},
		{"a lone CR", "\r"},
		{"three bytes", "GET"},
		{"cut in the request line", "GET /sm"},
		{"cut in the fields", "GET /small HTTP/1.1\r\nHost: x\r\nAccept: */*"},
		{"cut before the blank line", "GET /small HTTP/1.1\r\nHost: x\r\n"},
		{"whole then cut", get("/small") + "GET /declared HTTP/1.1\r\nHo"},
		{"whole then a lone CR", get("/small") + "\r"},
		{"whole then three bytes", get("/small") + "PUT"},
		{"whole then four bytes", get("/small") + "PUT "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := exchangeThen(t, laneAddr, tc.raw, three, true)
			want, _ := exchangeThen(t, plainAddr, tc.raw, three, true)
			if got != want {
				t.Errorf("fastlane answered\n%s\nnet/http answered\n%s", got, want)
			}
		})
	}
}

// TestPipelinedThenPartial: a client pipelines a request and the start of
// the next one, then waits for the first answer before sending the rest.
func TestPipelinedThenPartial(t *testing.T) {
	addr, _ := servers(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	second := get("/declared")
	io.WriteString(c, get("/small")+second[:10])
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("first answer: %v (held back while the second head is incomplete?)", err)
	}
	io.Copy(io.Discard, resp.Body)
	io.WriteString(c, second[10:])
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("second answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "hello world" {
		t.Errorf("second answer %q", body)
	}
}
