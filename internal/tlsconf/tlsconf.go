// Package tlsconf serves a certificate and key read from files, swapped
// atomically when they are reloaded, so a renewed certificate takes effect
// on the next handshake without closing a connection.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// Reloader holds the certificate read from CertFile and KeyFile.
// Connections already established keep the certificate they shook hands
// with; each new handshake gets the latest one that loaded.
type Reloader struct {
	CertFile, KeyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// NewReloader reads the certificate and key; an unreadable or mismatched
// pair is an error, since there is nothing to serve without them.
func NewReloader(certFile, keyFile string) (*Reloader, error) {
	r := &Reloader{CertFile: certFile, KeyFile: keyFile}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the files again and, if they hold a valid pair, serves it
// from the next handshake on. On an error the certificate served so far
// stays.
func (r *Reloader) Reload() error {
	c, err := tls.LoadX509KeyPair(r.CertFile, r.KeyFile)
	if err != nil {
		return fmt.Errorf("load tls certificate %s and key %s: %w", r.CertFile, r.KeyFile, err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return fmt.Errorf("parse tls certificate %s: %w", r.CertFile, err)
		}
	}
	r.cur.Store(&c)
	return nil
}

// Certificate returns the certificate served now.
func (r *Reloader) Certificate() *tls.Certificate { return r.cur.Load() }

// GetCertificate is a tls.Config.GetCertificate that serves the current
// certificate whatever the client asked for.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cur.Load(), nil
}

// ReloadAndLog reloads and logs the outcome: the new certificate's
// subject and expiry, or the error and that the old one stays.
func (r *Reloader) ReloadAndLog(log *slog.Logger) {
	if err := r.Reload(); err != nil {
		log.Error("tls certificate not reloaded; still serving the previous one", "err", err)
		return
	}
	leaf := r.Certificate().Leaf
	log.Info("tls certificate reloaded", "subject", leaf.Subject.String(), "not_after", leaf.NotAfter.Format(time.RFC3339))
}

// Config returns a server configuration serving r's certificate, offering
// HTTP/2 and HTTP/1.1 by ALPN, TLS 1.2 at least.
func (r *Reloader) Config() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}
