package main

import "os"

// nixProfileBundle is the CA bundle of Nix's default profile, which Nix
// falls back to when the system has none (the nixos/nix container image
// has no /etc/ssl/certs, and sets only NIX_SSL_CERT_FILE).
const nixProfileBundle = "/nix/var/nix/profiles/default/etc/ssl/certs/ca-bundle.crt"

// goCertFiles are the bundles Go's crypto/x509 looks for on Linux when
// SSL_CERT_FILE is unset, and goCertDirs its directories.
var (
	goCertFiles = []string{
		"/etc/ssl/certs/ca-certificates.crt",
		"/etc/pki/tls/certs/ca-bundle.crt",
		"/etc/ssl/ca-bundle.pem",
		"/etc/pki/tls/cacert.pem",
		"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
		"/etc/ssl/cert.pem",
	}
	goCertDirs = []string{"/etc/ssl/certs", "/etc/pki/tls/certs"}
)

// trustNixCerts makes the client commands, which talk to the caches Nix
// talks to, trust the certificates Nix trusts: Go reads SSL_CERT_FILE,
// Nix NIX_SSL_CERT_FILE (set by Nix's installer and container images,
// often alone) and, without either, its profile's bundle. So where
// SSL_CERT_FILE is unset it becomes NIX_SSL_CERT_FILE, or else Nix's
// profile bundle when Go would find no system roots at all. A set
// SSL_CERT_FILE wins (it is what push's messages tell users to set).
// Call it before the first TLS connection: Go loads the roots once.
func trustNixCerts() {
	if os.Getenv("SSL_CERT_FILE") != "" {
		return
	}
	if f := os.Getenv("NIX_SSL_CERT_FILE"); f != "" {
		os.Setenv("SSL_CERT_FILE", f)
		return
	}
	if os.Getenv("SSL_CERT_DIR") != "" {
		return
	}
	for _, f := range goCertFiles {
		if _, err := os.Stat(f); err == nil {
			return
		}
	}
	for _, d := range goCertDirs {
		if _, err := os.Stat(d); err == nil {
			return
		}
	}
	if _, err := os.Stat(nixProfileBundle); err == nil {
		os.Setenv("SSL_CERT_FILE", nixProfileBundle)
	}
}
