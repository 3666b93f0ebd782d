package fastlane

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/tlsconf"
	"github.com/nixbucket/nixbucket/internal/tlsconf/tlstest"
)

// tlsServer serves h behind a TLS fastlane Listener the way nixbucket
// serve does, and returns its address and a client trusting its CA. wrap,
// if not nil, wraps the TCP listener first.
func tlsServer(t *testing.T, h http.Handler, wrap func(net.Listener) net.Listener) (string, *tls.Config) {
	t.Helper()
	ln, hs, client := tlsListen(t, h)
	if wrap != nil {
		ln = wrap(ln)
	}
	fl := NewListener(ln, hs.Handler, Options{ReadHeaderTimeout: time.Second, TLS: hs.TLSConfig})
	go hs.Serve(fl)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		fl.Shutdown(ctx)
	})
	return ln.Addr().String(), client
}

// tlsListen makes a certificate for 127.0.0.1 from a fresh CA, a loopback
// listener, and a server of h with that certificate; the client config
// trusts the CA.
func tlsListen(t *testing.T, h http.Handler) (net.Listener, *http.Server, *tls.Config) {
	t.Helper()
	ca := tlstest.NewCA(t, "fastlane CA")
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.Issue(t, cert, key, "fastlane", "127.0.0.1")
	r, err := tlsconf.NewReloader(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: time.Second, TLSConfig: r.Config()}
	return ln, hs, ca.ClientConfig()
}

// TestTLSEveryRequestSeesTLS: over TLS, requests the fast lane serves,
// requests it hands to net/http on a connection it already read from,
// and HTTP/2 connections all reach the handler with Request.TLS set
// (aws:SecureTransport depends on it); a file body goes out intact
// through the record layer; plain HTTP on the port gets net/http's 400.
func TestTLSEveryRequestSeesTLS(t *testing.T) {
	nar := bytes.Repeat([]byte("nar bytes "), 50000)
	file := filepath.Join(t.TempDir(), "nar")
	if err := os.WriteFile(file, nar, 0o644); err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		_, lane := w.(*response)
		w.Header().Set("X-Lane", fmt.Sprint(lane))
		w.Header().Set("X-TLS", fmt.Sprint(r.TLS != nil && r.TLS.HandshakeComplete))
		if r.URL.Path == "/file" {
			f, err := os.Open(file)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			http.ServeContent(w, r, "", time.Unix(1e9, 0), f)
		}
	})
	addr, cfg := tlsServer(t, h, nil)

	// One HTTP/1.1 connection: fast-lane GETs, then a PUT that hands the
	// connection over, then a GET net/http serves.
	cfg1 := cfg.Clone()
	cfg1.NextProtos = []string{"http/1.1"}
	c, err := tls.Dial("tcp", addr, cfg1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i, tc := range []struct {
		req  string
		lane string
	}{
		{"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "true"},
		{"GET /file HTTP/1.1\r\nHost: x\r\n\r\n", "true"},
		{"PUT /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", "false"},
		{"GET /c HTTP/1.1\r\nHost: x\r\n\r\n", "false"},
	} {
		if _, err := io.WriteString(c, tc.req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("X-TLS"); got != "true" {
			t.Errorf("request %d (%q): handler saw TLS %s, want true", i, tc.req, got)
		}
		if got := resp.Header.Get("X-Lane"); got != tc.lane {
			t.Errorf("request %d (%q): served by the fast lane %s, want %s", i, tc.req, got, tc.lane)
		}
		if strings.Contains(tc.req, "/file") && !bytes.Equal(body, nar) {
			t.Errorf("/file over TLS: %d bytes, want the %d of the file", len(body), len(nar))
		}
	}

	// HTTP/2, chosen by ALPN, goes to net/http at once.
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
	resp, err := cl.Get("https://" + addr + "/file")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.Header.Get("X-TLS") != "true" || !bytes.Equal(body, nar) {
		t.Errorf("HTTP/2 GET /file: %s, TLS %s, %d bytes; want HTTP/2, true, %d bytes", resp.Proto, resp.Header.Get("X-TLS"), len(body), len(nar))
	}

	// Plain HTTP to the TLS port.
	pc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	pc.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(pc, "GET /a HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\n\r\n")
	presp, err := http.ReadResponse(bufio.NewReader(pc), nil)
	if err != nil {
		t.Fatalf("plain HTTP to the TLS port: %v", err)
	}
	if presp.StatusCode != http.StatusBadRequest || presp.Header.Get("X-TLS") != "" {
		t.Errorf("plain HTTP to the TLS port: %d (handler TLS %q), want 400 without reaching the handler", presp.StatusCode, presp.Header.Get("X-TLS"))
	}
}

// wrappedListener hides the *net.TCPConn of each connection, as a
// connection-limiting wrapper would.
type wrappedListener struct{ net.Listener }

type wrappedConn struct{ net.Conn }

func (l wrappedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return wrappedConn{c}, nil
}

// TestTLSNeverPlainForOtherConns: a connection the fast lane cannot serve
// itself (not a *net.TCPConn) still gets TLS before net/http sees it, so
// a TLS port never answers in plain text.
func TestTLSNeverPlainForOtherConns(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-TLS", fmt.Sprint(r.TLS != nil))
	})
	addr, cfg := tlsServer(t, h, func(ln net.Listener) net.Listener { return wrappedListener{ln} })
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := cl.Get("https://" + addr + "/a")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-TLS") != "true" {
		t.Errorf("over TLS: handler saw TLS %q, want true", resp.Header.Get("X-TLS"))
	}
	presp, err := http.Get("http://" + addr + "/a")
	if err == nil {
		presp.Body.Close()
		if presp.StatusCode != http.StatusBadRequest || presp.Header.Get("X-TLS") != "" {
			t.Errorf("plain HTTP: %d, handler TLS %q; want 400 without reaching the handler", presp.StatusCode, presp.Header.Get("X-TLS"))
		}
	}
}

// TestTLSWatch: over TLS too, the watch of a long request keeps what the
// client sends meanwhile, and a client that goes away while its handler
// waits cancels the handler's context.
func TestTLSWatch(t *testing.T) {
	entered := make(chan struct{}, 1)
	cancelled := make(chan bool, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			entered <- struct{}{}
			time.Sleep(500 * time.Millisecond)
			io.WriteString(w, "slow")
		case "/wait":
			entered <- struct{}{}
			select {
			case <-r.Context().Done():
				cancelled <- true
			case <-time.After(10 * time.Second):
				cancelled <- false
			}
		default:
			fmt.Fprintf(w, "next %T", w)
		}
	})
	addr, cfg := tlsServer(t, h, nil)
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, get("/slow"))
	<-entered
	time.Sleep(300 * time.Millisecond) // past a sweep
	io.WriteString(c, get("/next"))
	br := bufio.NewReader(c)
	var got []string
	for range 2 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		got = append(got, string(body))
	}
	if strings.Join(got, "; ") != "slow; next *fastlane.response" {
		t.Errorf("answers %q", got)
	}
	io.WriteString(c, get("/wait"))
	<-entered
	time.Sleep(300 * time.Millisecond)
	c.Close()
	if !<-cancelled {
		t.Error("handler's context not cancelled when the client went away")
	}
}
