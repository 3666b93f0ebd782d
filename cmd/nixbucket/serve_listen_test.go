package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeMetricsPortTaken: a taken --metrics-listen port is named as
// that flag's, so the fix offered is to change it, not --listen.
func TestServeMetricsPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	r := run(t, nil, "serve", "--listen", "127.0.0.1:0", "--metrics-listen", addr, "--data", filepath.Join(t.TempDir(), "data"))
	want := "nixbucket: serve: cannot listen on " + addr + " (--metrics-listen): address already in use (is another nixbucket running?); stop what holds it, or pick a free address with --metrics-listen 127.0.0.1:PORT"
	if r.code != 1 || !strings.HasPrefix(r.stderr, want) {
		t.Errorf("serve with --metrics-listen on a taken port: exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, want)
	}
}

// TestProxyPortTaken: the proxy's taken ports are said as serve's are,
// naming the flag to change, before it reports serving.
func TestProxyPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	for _, c := range []struct{ flag, want string }{
		{"--listen", "nixbucket: proxy: cannot listen on " + addr + ": address already in use (is another nixbucket running?); stop what holds it, or pick a free address with --listen 127.0.0.1:PORT\n"},
		{"--metrics-listen", "nixbucket: proxy: cannot listen on " + addr + " (--metrics-listen): address already in use (is another nixbucket running?); stop what holds it, or pick a free address with --metrics-listen 127.0.0.1:PORT\n"},
	} {
		args := []string{"proxy", "--upstream", "http://127.0.0.1:9/cache", "--trust", "any", "--listen", "127.0.0.1:0", c.flag, addr}
		r := run(t, nil, args...)
		if r.code != 1 || r.stderr != c.want {
			t.Errorf("proxy %s on a taken port: exit %d, stderr %q; want exit 1 and %q", c.flag, r.code, r.stderr, c.want)
		}
	}
}
