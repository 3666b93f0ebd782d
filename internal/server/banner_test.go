package server_test

import (
	"os"
	"testing"

	"github.com/nixbucket/nixbucket/internal/server"
)

// TestUsableEndpoint: a wildcard listen address becomes 127.0.0.1 (and
// this machine's name for other machines); any other stays as it is.
func TestUsableEndpoint(t *testing.T) {
	name, _ := os.Hostname()
	for addr, want := range map[string][2]string{
		"0.0.0.0:9000":   {"http://127.0.0.1:9000", "http://" + name + ":9000"},
		"[::]:9000":      {"http://127.0.0.1:9000", "http://" + name + ":9000"},
		":9000":          {"http://127.0.0.1:9000", "http://" + name + ":9000"},
		"127.0.0.1:9000": {"http://127.0.0.1:9000", ""},
		"[::1]:9000":     {"http://[::1]:9000", ""},
		"10.1.2.3:80":    {"http://10.1.2.3:80", ""},
	} {
		ep, other := server.UsableEndpoint("http", addr)
		if ep != want[0] || other != want[1] {
			t.Errorf("UsableEndpoint(%q) = %q, %q; want %q, %q", addr, ep, other, want[0], want[1])
		}
	}
}
