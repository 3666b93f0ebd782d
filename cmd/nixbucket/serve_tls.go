package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/nixbucket/nixbucket/internal/sdnotify"
	"github.com/nixbucket/nixbucket/internal/server"
	"github.com/nixbucket/nixbucket/internal/tlsconf"
)

// serveTLS reads --tls-cert and --tls-key and returns the configuration
// to serve them with, reloading both on SIGHUP until ctx ends; nil, nil
// means plain HTTP. A reload that fails keeps the certificate served so
// far and logs why.
func serveTLS(ctx context.Context, certFile, keyFile string, log *slog.Logger) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("serve: --tls-cert and --tls-key go together")
	}
	r, err := tlsconf.NewReloader(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				notifySystemd(log, sdnotify.Reloading)
				r.ReloadAndLog(log)
				notifySystemd(log, sdnotify.Ready)
			}
		}
	}()
	return r.Config(), nil
}

// urlScheme is the scheme of the URLs the server is reached at.
func urlScheme(cfg *tls.Config) string {
	if cfg != nil {
		return "https"
	}
	return "http"
}

// clientCA is the certificate file clients must be told to trust, for the
// banner: certFile (absolute) when the system's CAs do not vouch for the
// certificate served, else none.
func clientCA(cfg *tls.Config, certFile string) server.ClientCA {
	if cfg == nil || cfg.GetCertificate == nil {
		return server.ClientCA{}
	}
	cert, err := cfg.GetCertificate(nil)
	if err != nil || cert == nil {
		return server.ClientCA{}
	}
	t := tlsconf.SystemTrust(cert)
	if t.System {
		return server.ClientCA{}
	}
	if abs, err := filepath.Abs(certFile); err == nil {
		certFile = abs
	}
	return server.ClientCA{File: certFile, Root: t.HoldsRoot}
}
