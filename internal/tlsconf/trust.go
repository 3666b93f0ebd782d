package tlsconf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
)

// Trust is how clients on this machine can come to trust a served
// certificate chain.
type Trust struct {
	// System says the system's roots vouch for it: clients need nothing.
	System bool
	// HoldsRoot says the chain holds a self-signed certificate (a
	// self-signed server certificate, or a chain ending in its CA), so
	// the certificate file is a CA bundle every client takes. Without
	// one, Nix and curl still take the file (OpenSSL's partial chains),
	// but the aws CLI wants the issuing CA's certificate.
	HoldsRoot bool
}

// SystemTrust tells whether the system's roots verify cert, and whether
// its chain holds a root. Only an unknown issuer counts as untrusted: an
// expired certificate or a name it lacks is another problem, that no CA
// bundle solves.
func SystemTrust(cert *tls.Certificate) Trust {
	var chain []*x509.Certificate
	for _, der := range cert.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return Trust{System: true} // nothing to advise on
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return Trust{System: true}
	}
	var t Trust
	inter := x509.NewCertPool()
	for _, c := range chain {
		inter.AddCert(c)
		if bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil {
			t.HoldsRoot = true
		}
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	var unknown x509.UnknownAuthorityError
	t.System = !errors.As(err, &unknown)
	return t
}
