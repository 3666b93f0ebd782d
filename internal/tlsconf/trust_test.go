package tlsconf_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nixbucket/nixbucket/internal/tlsconf"
	"github.com/nixbucket/nixbucket/internal/tlsconf/tlstest"
)

// TestSystemTrust: a self-signed certificate and one of a private CA are
// not the system's to vouch for; the first (or a chain file ending in the
// CA) holds a root, a lone issued certificate does not. A CA the system
// trusts (SSL_CERT_FILE naming it, as Go reads it) needs no advice.
func TestSystemTrust(t *testing.T) {
	// Go reads the system's roots once, on first use: this CA is among
	// them for the whole process (no other test here asks the system).
	trusted := tlstest.NewCA(t, "a CA the system trusts")
	t.Setenv("SSL_CERT_FILE", trusted.CertFile)
	dir := t.TempDir()
	load := func(certFile, keyFile string) tlsconf.Trust {
		t.Helper()
		r, err := tlsconf.NewReloader(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		return tlsconf.SystemTrust(r.Certificate())
	}
	self, selfKey := filepath.Join(dir, "self.pem"), filepath.Join(dir, "self.key")
	tlstest.SelfSigned(t, self, selfKey, "self", "127.0.0.1")
	if got := load(self, selfKey); got != (tlsconf.Trust{HoldsRoot: true}) {
		t.Errorf("self-signed: %+v, want untrusted, holding its root", got)
	}

	ca := tlstest.NewCA(t, "private CA")
	leaf, leafKey := filepath.Join(dir, "leaf.pem"), filepath.Join(dir, "leaf.key")
	ca.Issue(t, leaf, leafKey, "leaf", "127.0.0.1")
	if got := load(leaf, leafKey); got != (tlsconf.Trust{}) {
		t.Errorf("issued by a private CA: %+v, want untrusted, no root", got)
	}
	leafPEM, err := os.ReadFile(leaf)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	chain := filepath.Join(dir, "chain.pem")
	if err := os.WriteFile(chain, append(leafPEM, caPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := load(chain, leafKey); got != (tlsconf.Trust{HoldsRoot: true}) {
		t.Errorf("chain with the private CA: %+v, want untrusted, holding its root", got)
	}

	good, goodKey := filepath.Join(dir, "good.pem"), filepath.Join(dir, "good.key")
	trusted.Issue(t, good, goodKey, "good", "127.0.0.1")
	if got := load(good, goodKey); !got.System {
		t.Errorf("issued by a CA the system trusts: %+v, want trusted", got)
	}
}
