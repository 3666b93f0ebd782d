package tlsconf_test

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/nixbucket/nixbucket/internal/tlsconf"
	"github.com/nixbucket/nixbucket/internal/tlsconf/tlstest"
)

// TestReloadSwapsCertificate: a reload serves the new pair to the next
// handshake; a broken pair (bad PEM, or a key that does not match) keeps
// the previous certificate.
func TestReloadSwapsCertificate(t *testing.T) {
	ca := tlstest.NewCA(t, "reload CA")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := ca.Issue(t, certFile, keyFile, "first", "127.0.0.1")
	r, err := tlsconf.NewReloader(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := served(t, r); got != first.SerialNumber.String() {
		t.Fatalf("serving serial %s, want the first certificate's %s", got, first.SerialNumber)
	}

	second := ca.Issue(t, certFile, keyFile, "second", "127.0.0.1")
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := served(t, r); got != second.SerialNumber.String() {
		t.Fatalf("after reload serving serial %s, want the second certificate's %s", got, second.SerialNumber)
	}

	// A key that belongs to another certificate.
	other := t.TempDir()
	ca.Issue(t, filepath.Join(other, "c.pem"), filepath.Join(other, "k.pem"), "other", "127.0.0.1")
	okKey, _ := os.ReadFile(keyFile)
	otherKey, _ := os.ReadFile(filepath.Join(other, "k.pem"))
	for name, write := range map[string]func(){
		"garbage cert":   func() { os.WriteFile(certFile, []byte("not a certificate"), 0o600) },
		"mismatched key": func() { os.WriteFile(keyFile, otherKey, 0o600) },
		"missing key":    func() { os.Remove(keyFile) },
	} {
		ca.Issue(t, certFile, keyFile, "third", "127.0.0.1")
		os.WriteFile(keyFile, okKey, 0o600) // the second pair's key: mismatched too
		write()
		if err := r.Reload(); err == nil {
			t.Errorf("%s: Reload succeeded", name)
		}
		if got := served(t, r); got != second.SerialNumber.String() {
			t.Errorf("%s: serving serial %s after a failed reload, want the second certificate's %s", name, got, second.SerialNumber)
		}
	}

	if _, err := tlsconf.NewReloader(certFile, filepath.Join(dir, "absent.pem")); err == nil {
		t.Error("NewReloader with a missing key succeeded")
	}
}

// served shakes hands with a server using r's configuration over an
// in-memory pipe and returns the serial number the client saw.
func served(t *testing.T, r *tlsconf.Reloader) string {
	t.Helper()
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	srv := tls.Server(c2, r.Config())
	go srv.Handshake()
	cl := tls.Client(c1, &tls.Config{InsecureSkipVerify: true})
	if err := cl.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return cl.ConnectionState().PeerCertificates[0].SerialNumber.String()
}
