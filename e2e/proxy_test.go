package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
)

// Reverse proxies the tests put between a client and the server under
// test, to hold a request at a chosen moment or to see what the server
// answered.

// partHolder is a reverse proxy in front of a server that holds the first
// UploadPart request of part 2 it sees until release is called (or its
// client goes away), then refuses it with 503. Every other request passes.
type partHolder struct {
	Addr    string // 127.0.0.1:PORT of the proxy
	held    chan struct{}
	once    sync.Once
	done    chan struct{}
	stopped sync.Once
}

func newPartHolder(t testing.TB, server string) *partHolder {
	t.Helper()
	h := &partHolder{held: make(chan struct{}), done: make(chan struct{})}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: server})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("partNumber") == "2" {
			first := false
			h.once.Do(func() { first = true })
			if first {
				close(h.held)
				select {
				case <-h.done:
				case <-r.Context().Done():
				}
				http.Error(w, "held by the test", http.StatusServiceUnavailable)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		h.release()
		srv.Close()
	})
	h.Addr = srv.Listener.Addr().String()
	return h
}

// release lets the held part go on.
func (h *partHolder) release() { h.stopped.Do(func() { close(h.done) }) }

// answerRecorder is a reverse proxy in front of a server that records the
// method, path and status of every answer.
type answerRecorder struct {
	Addr    string // 127.0.0.1:PORT of the proxy
	mu      sync.Mutex
	answers []string
}

func newAnswerRecorder(t testing.TB, server string) *answerRecorder {
	t.Helper()
	a := &answerRecorder{}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: server})
	proxy.ModifyResponse = func(resp *http.Response) error {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.answers = append(a.answers, fmt.Sprintf("%s %s %d %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, resp.Header.Get("WWW-Authenticate")))
		return nil
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	a.Addr = srv.Listener.Addr().String()
	return a
}

// Answers returns "METHOD PATH STATUS WWW-AUTHENTICATE" for each answer so
// far.
func (a *answerRecorder) Answers() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.answers...)
}
