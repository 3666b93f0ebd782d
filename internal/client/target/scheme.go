package target

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// SchemeMistake is schemeMistake for other clients of a cache (nixbucket
// use).
func SchemeMistake(what, fix string, err error) error { return schemeMistake(what, fix, err) }

// schemeMistake explains a request that no retry can mend: https
// spoken to a server of plain HTTP, or a certificate this machine does not
// trust. fix names what to change in the store URL for the first. It
// returns nil for any other error.
func schemeMistake(what, fix string, err error) error {
	var cv *tls.CertificateVerificationError
	switch {
	case errors.Is(err, http.ErrSchemeMismatch):
		return &mistake{fmt.Sprintf("%s speaks plain HTTP, not HTTPS: %s", what, fix), err}
	case errors.As(err, &cv):
		return &mistake{fmt.Sprintf("the TLS certificate of %s is not trusted here (%v): if a private CA signed it, "+
			"point SSL_CERT_FILE (for http(s):// URLs) or AWS_CA_BUNDLE (for s3://) at the CA's PEM file", what, cv.Err), err}
	}
	return nil
}

// mistake is an error whose message says all; the underlying error is kept
// for errors.Is and As.
type mistake struct {
	msg string
	err error
}

func (m *mistake) Error() string { return m.msg }
func (m *mistake) Unwrap() error { return m.err }

// notRetryable tells the SDK's retryer not to retry a scheme mistake.
func notRetryable(err error) aws.Ternary {
	var cv *tls.CertificateVerificationError
	if errors.Is(err, http.ErrSchemeMismatch) || errors.As(err, &cv) {
		return aws.FalseTernary
	}
	return aws.UnknownTernary
}

// speaksTLS reports whether the server of a plain http:// URL answers a
// TLS handshake instead (its certificate unchecked, nothing sent after
// it): the probe push makes after a 400 to plain HTTP, which is how
// servers of HTTPS answer it ("Client sent an HTTP request to an HTTPS
// server").
func speaksTLS(ctx context.Context, rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" {
		return false
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, ServerName: u.Hostname()}} // #nosec G402: a probe; nothing is sent over it
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
