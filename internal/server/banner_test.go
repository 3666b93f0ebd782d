package server_test

import (
	"os"
	"strings"
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

// TestBannerClientCA: with a certificate the system does not trust, every
// client command carries it the way that client takes it (the e2e test
// TestBannerTLSLines runs them); a lone certificate of a private CA
// leaves the aws CLI a CA.pem to fill in. A trusted one changes nothing.
func TestBannerClientCA(t *testing.T) {
	b := server.Banner{Data: "/d", Endpoint: "https://127.0.0.1:9443", RootKeyID: "NBKEY", Region: "us-east-1",
		Buckets: []server.BannerBucket{{Name: "nix-cache", Keys: []string{"nix-cache-1:AAAA"}}}}
	plain := b.String()
	for _, w := range []string{"NIX_SSL_CERT_FILE", "SSL_CERT_FILE", "--ca-bundle", "certificate:"} {
		if strings.Contains(plain, w) {
			t.Errorf("a trusted certificate's banner mentions %s:\n%s", w, plain)
		}
	}
	for _, root := range []bool{true, false} {
		b.CA = server.ClientCA{File: "/etc/nb/cert.pem", Root: root}
		text := b.String()
		awsCA := "/etc/nb/cert.pem"
		if !root {
			awsCA = "CA.pem"
		}
		for label, want := range map[string]string{
			"push over HTTP:": "NIX_SSL_CERT_FILE=/etc/nb/cert.pem nix ",
			"push over S3:":   "NIX_SSL_CERT_FILE=/etc/nb/cert.pem AWS_SHARED_CREDENTIALS_FILE=",
			"substitute:":     "NIX_SSL_CERT_FILE=/etc/nb/cert.pem nix-store -r ",
			"nixbucket push:": "SSL_CERT_FILE=/etc/nb/cert.pem nixbucket push ",
			"nix.conf:":       "SSL_CERT_FILE=/etc/nb/cert.pem nixbucket use ",
		} {
			if !strings.Contains(text, label+strings.Repeat(" ", 21-len(label))+want) {
				t.Errorf("root %v: no %q line starting %q:\n%s", root, label, want, text)
			}
		}
		if !strings.Contains(text, " aws --ca-bundle "+awsCA+" --endpoint-url https://127.0.0.1:9443 ") {
			t.Errorf("root %v: the aws line does not pass --ca-bundle %s:\n%s", root, awsCA, text)
		}
	}
}
