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
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Differential tests beside TestSameAnswers: what a handler, a client or
// the http.Server's hooks can tell, compared between fastlane and net/http
// alone.

// both runs check against the fastlane and the net/http address of tw and
// wants the same result from each.
func both(t *testing.T, tw twin, check func(t *testing.T, addr string) string) {
	t.Helper()
	got, want := check(t, tw.lane), check(t, tw.plain)
	if got != want {
		t.Errorf("fastlane:\n%s\nnet/http:\n%s", got, want)
	}
}

type ctxKey string

// TestSameContext: each request has its own context, carrying the
// server, the local address and what BaseContext and ConnContext added,
// and cancelled once its handler returns.
func TestSameContext(t *testing.T) {
	var mu sync.Mutex
	var prev context.Context
	var tw twin
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		srv, _ := ctx.Value(http.ServerContextKey).(*http.Server)
		local, _ := ctx.Value(http.LocalAddrContextKey).(net.Addr)
		mu.Lock()
		fresh := ctx != prev && (prev == nil || prev.Err() != nil)
		prev = ctx
		mu.Unlock()
		fmt.Fprintf(w, "server=%v local=%v base=%v conn=%v fresh=%v live=%v", srv == tw.ls || srv == tw.ps,
			local != nil && local.String() == r.Host, ctx.Value(ctxKey("base")), ctx.Value(ctxKey("conn")), fresh, ctx.Err() == nil)
	})
	tw = pair(t, h, func(hs *http.Server) {
		hs.BaseContext = func(l net.Listener) context.Context {
			return context.WithValue(context.Background(), ctxKey("base"), l.Addr() != nil)
		}
		hs.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, ctxKey("conn"), "tagged")
		}
	})
	both(t, tw, func(t *testing.T, addr string) string {
		req := "GET /a HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
		got, writers := exchange(t, addr, req+req+req, []string{"GET", "GET", "GET"})
		if addr == tw.lane && slices.Contains(writers, "*http.response") {
			t.Errorf("fastlane handed over")
		}
		if !strings.Contains(got, `"server=true local=true base=true conn=tagged fresh=true live=true"`) {
			t.Errorf("%s answered %s", addr, got)
		}
		return got
	})
}

// TestSameCancelOnDisconnect: a client that goes away in the middle of a
// long response cancels the handler's context.
func TestSameCancelOnDisconnect(t *testing.T) {
	cancelled := make(chan string, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("nar "), 16<<10)
		deadline := time.After(20 * time.Second)
		for {
			w.Write(chunk)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				cancelled <- r.Host
				return
			case <-deadline:
				cancelled <- "not cancelled"
				return
			case <-time.After(time.Millisecond):
			}
		}
	})
	tw := pair(t, h, nil)
	both(t, tw, func(t *testing.T, addr string) string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET /stream HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
		if _, err := io.ReadFull(c, make([]byte, 100<<10)); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if got := <-cancelled; got != addr {
			return got
		}
		return "cancelled"
	})
}

// TestSameCancelWhileSilent: a client that goes away while its handler
// waits without writing (a pull-through waiting for its upstream) cancels
// the handler's context; a client that sends its next request meanwhile
// gets both answers.
func TestSameCancelWhileSilent(t *testing.T) {
	entered := make(chan struct{}, 1)
	cancelled := make(chan string, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/wait":
			entered <- struct{}{}
			select {
			case <-r.Context().Done():
				cancelled <- "cancelled"
			case <-time.After(10 * time.Second):
				cancelled <- "not cancelled"
			}
		case "/slow":
			entered <- struct{}{}
			time.Sleep(500 * time.Millisecond)
			fmt.Fprintf(w, "slow, live=%v", r.Context().Err() == nil)
		default:
			io.WriteString(w, "next")
		}
	})
	tw := pair(t, h, nil)
	both(t, tw, func(t *testing.T, addr string) string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, get("/wait"))
		<-entered
		time.Sleep(300 * time.Millisecond) // past a sweep
		c.Close()
		return <-cancelled
	})
	both(t, tw, func(t *testing.T, addr string) string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, get("/slow"))
		<-entered
		time.Sleep(300 * time.Millisecond)
		io.WriteString(c, get("/next"))
		br := bufio.NewReader(c)
		var out []string
		for range 2 {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			out = append(out, string(body))
		}
		return strings.Join(out, "; ")
	})
}

// TestSameKeptRequests: a handler may keep its request after returning;
// the next requests on the connection change nothing in it.
func TestSameKeptRequests(t *testing.T) {
	var mu sync.Mutex
	kept := map[string][]*http.Request{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		kept[r.Host] = append(kept[r.Host], r)
		mu.Unlock()
		io.WriteString(w, "kept")
	})
	tw := pair(t, h, nil)
	both(t, tw, func(t *testing.T, addr string) string {
		var raw string
		for i := range 4 {
			raw += fmt.Sprintf("GET /keep/%d HTTP/1.1\r\nHost: %s\r\nX-N: %d\r\nUser-Agent: ua%d\r\n\r\n", i, addr, i, i%2)
		}
		exchange(t, addr, raw, []string{"GET", "GET", "GET", "GET"})
		mu.Lock()
		defer mu.Unlock()
		var out strings.Builder
		for _, r := range kept[addr] {
			fmt.Fprintf(&out, "%s %s %s %q %q %v\n", r.Method, r.URL.Path, r.RequestURI, r.Header.Get("X-N"),
				r.Header.Get("User-Agent"), r.Context().Err())
		}
		return out.String()
	})
}

// TestSameInformational: a 1xx answer leaves at once, before the handler
// goes on.
func TestSameInformational(t *testing.T) {
	got := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		select {
		case <-got:
			io.WriteString(w, "after the client saw the hint")
		case <-time.After(3 * time.Second):
			io.WriteString(w, "the hint was held back")
		}
	})
	tw := pair(t, h, nil)
	both(t, tw, func(t *testing.T, addr string) string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, get("/hint"))
		br := bufio.NewReader(c)
		hint, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		got <- struct{}{}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%s %q; %s %q", hint.Status, hint.Header.Get("Link"), resp.Status, body)
	})
}

// flakyListener fails its first accepts with errors net/http retries.
type flakyListener struct {
	net.Listener
	mu    sync.Mutex
	fails []error
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.fails) > 0 {
		err := l.fails[0]
		l.fails = l.fails[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

// TestSameAcceptRetry: every temporary accept error (ENFILE, EMFILE,
// ECONNABORTED) is retried with back-off, as net/http does, and the
// server goes on serving.
func TestSameAcceptRetry(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "served") })
	var logs [2]bytes.Buffer
	var logMu sync.Mutex
	for i, lane := range []bool{true, false} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		fl := &flakyListener{Listener: ln}
		for _, e := range []syscall.Errno{syscall.ENFILE, syscall.EMFILE} {
			fl.fails = append(fl.fails, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", e)})
		}
		fl.fails = append(fl.fails, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.ECONNABORTED})
		hs := &http.Server{Handler: h, ErrorLog: log.New(lockedWriter{&logMu, &logs[i]}, "", 0)}
		var serve net.Listener = fl
		if lane {
			serve = NewListener(fl, nil, Options{Server: hs})
		}
		go hs.Serve(serve)
		defer hs.Close()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, get("/"))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			logMu.Lock()
			t.Fatalf("lane=%v: %v; log %s", lane, err, &logs[i])
		}
		body, _ := io.ReadAll(resp.Body)
		if string(body) != "served" {
			t.Errorf("lane=%v: %q", lane, body)
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	if got, want := retries(logs[0].String()), retries(logs[1].String()); got != want {
		t.Errorf("fastlane logged\n%s\nnet/http logged\n%s", got, want)
	}
}

// retries keeps the retry lines of an error log, without their times.
func retries(s string) string {
	var out []string
	for line := range strings.Lines(s) {
		if before, _, ok := strings.Cut(line, "; retrying in "); ok {
			out = append(out, before)
		}
	}
	return strings.Join(out, "\n")
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// TestSameHooks: the http.Server's ConnState sees a connection served
// here go through the states net/http would give it, and its ErrorLog
// gets the panics.
func TestSameHooks(t *testing.T) {
	var mu sync.Mutex
	states := map[string][]string{} // by server address
	var logs [2]bytes.Buffer
	n := 0
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		io.WriteString(w, "ok")
	})
	tw := pair(t, h, func(hs *http.Server) {
		hs.ErrorLog = log.New(lockedWriter{&mu, &logs[n]}, "", 0)
		n++
		hs.ConnState = func(c net.Conn, st http.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			k := c.LocalAddr().String()
			states[k] = append(states[k], c.RemoteAddr().String()+" "+st.String())
		}
	})
	both(t, tw, func(t *testing.T, addr string) string {
		exchange(t, addr, get("/a")+get("/b"), []string{"GET", "GET"})
		exchange(t, addr, get("/a")+get("/panic")+get("/a"), []string{"GET", "GET", "GET"})
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			// Each connection's states, in the order they started.
			var remotes []string
			per := map[string]string{}
			for _, e := range states[addr] {
				remote, st, _ := strings.Cut(e, " ")
				if _, ok := per[remote]; !ok {
					remotes = append(remotes, remote)
				}
				per[remote] += " " + st
			}
			mu.Unlock()
			var s string
			for _, r := range remotes {
				s += per[r] + "\n"
			}
			if strings.Count(s, "closed") == 2 || time.Now().After(deadline) {
				return s
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	for i, l := range logs {
		if !strings.Contains(l.String(), "http: panic serving 127.0.0.1:") || !strings.Contains(l.String(), ": boom\n") {
			t.Errorf("server %d logged %q", i, l.String())
		}
	}
}

// TestHandedOverStates: a connection handed over ends as hijacked for
// ConnState, and net/http's own states of it still reach the Listener,
// which closes it when idle to make room under the cap.
func TestHandedOverStates(t *testing.T) {
	var mu sync.Mutex
	var states []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ConnState: func(c net.Conn, st http.ConnState) {
		mu.Lock()
		states = append(states, fmt.Sprintf("%T %v", c, st))
		mu.Unlock()
	}}
	fl := NewListener(ln, nil, Options{Server: hs, MaxConns: 1})
	go hs.Serve(fl)
	defer hs.Close()
	put := "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"
	c1, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c1.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c1, get("/")+put)
	br := bufio.NewReader(c1)
	for range 2 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
	}
	// c1 is idle in net/http's hands: a second connection takes its place.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		s := strings.Join(states, ", ")
		mu.Unlock()
		if strings.HasSuffix(s, "*fastlane.prefixConn idle") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("states %s", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, writers := exchange(t, ln.Addr().String(), get("/"), []string{"GET"})
	if len(writers) != 1 {
		t.Errorf("second connection not served under the cap")
	}
	if _, err := c1.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("idle handed-over connection not closed: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := "*net.TCPConn new, *net.TCPConn active, *net.TCPConn idle, *net.TCPConn hijacked, " +
		"*fastlane.prefixConn new, *fastlane.prefixConn active, *fastlane.prefixConn idle"
	if got := strings.Join(states, ", "); !strings.HasPrefix(got, want) {
		t.Errorf("states\n%s\nwant them to begin\n%s", got, want)
	}
}

// TestSameCancelOnCut: closing the connections under a running handler
// (Listener.Cut; http.Server.Close under net/http) cancels its context.
func TestSameCancelOnCut(t *testing.T) {
	entered := make(chan struct{}, 1)
	cancelled := make(chan string, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-r.Context().Done():
			cancelled <- "cancelled"
		case <-time.After(10 * time.Second):
			cancelled <- "not cancelled"
		}
	})
	tw := pair(t, h, nil)
	both(t, tw, func(t *testing.T, addr string) string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, get("/"))
		<-entered
		if addr == tw.lane {
			tw.fl.Cut()
		} else {
			tw.ps.Close()
		}
		return <-cancelled
	})
}

// TestSameErrorLog: a handler's misuses reach the http.Server's ErrorLog
// in net/http's words.
func TestSameErrorLog(t *testing.T) {
	var mu sync.Mutex
	var logs [2]bytes.Buffer
	n := 0
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/twice":
			w.WriteHeader(http.StatusAccepted)
			w.WriteHeader(http.StatusTeapot)
		case "/bad-length":
			w.Header().Set("Content-Length", "-3")
			io.WriteString(w, "body")
		}
	})
	tw := pair(t, h, func(hs *http.Server) {
		hs.ErrorLog = log.New(lockedWriter{&mu, &logs[n]}, "", 0)
		n++
	})
	both(t, tw, func(t *testing.T, addr string) string {
		got, _ := exchange(t, addr, get("/twice")+get("/bad-length"), []string{"GET", "GET"})
		return got
	})
	mu.Lock()
	defer mu.Unlock()
	if logs[0].String() != logs[1].String() || !strings.Contains(logs[0].String(), "superfluous") {
		t.Errorf("fastlane logged\n%s\nnet/http logged\n%s", &logs[0], &logs[1])
	}
}
