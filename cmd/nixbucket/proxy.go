package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nixbucket/nixbucket/internal/diskcache"
	"github.com/nixbucket/nixbucket/internal/diskspace"
	"github.com/nixbucket/nixbucket/internal/forwarded"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
	"github.com/nixbucket/nixbucket/internal/proxy"
	"github.com/nixbucket/nixbucket/internal/upstream"
)

const proxySynopsis = `proxy --upstream URL [--upstream URL2 ...] [--listen 127.0.0.1:8080]
       [--cache-dir DIR --max-size SIZE] [--trusted-public-keys 'name:KEY ...' | --trust any]

A local plain-HTTP binary cache in front of upstream caches: any Nix, builds
without S3 support included, substitutes from a private S3 cache with
  --option substituters http://127.0.0.1:8080
Upstream URLs, in priority order:
  s3://BUCKET?region=R&profile=P[&endpoint=HOST[:PORT]&scheme=http|https]
      (credentials from the AWS default chain: environment, the shared
      config and credentials files with profile=, SSO, instance metadata)
  http(s)://HOST/PATH   (anonymous, --netrc-file, or --token-file)
Narinfos are served as the upstream sent them, once their signature
verified against --trusted-public-keys; clients check the same keys.
NARs are fetched once however many clients ask, streamed while they
arrive and checked (FileSize, FileHash) before they are kept in
--cache-dir, bounded by --max-size (least recently used go first).
Prometheus metrics (requests, NAR sources, the disk cache, bytes per
upstream) are at /-/metrics for loopback callers, or on --metrics-listen.`

// stringList is a flag that may be repeated; each value may also hold
// several space-separated items.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, " ") }

func (l *stringList) Set(v string) error {
	*l = append(*l, strings.Fields(v)...)
	return nil
}

// proxyFlags is proxy's command line.
type proxyFlags struct {
	upstreams, keys                                    stringList
	listen, cacheDir, maxSize, trust, netrc, tokenFile string
	metricsListen                                      string
	negativeTTL                                        time.Duration
	maxConns                                           int
	timeouts                                           upstream.Timeouts
	logLevel                                           string
}

func parseProxyFlags(args []string) (*proxyFlags, error) {
	var f proxyFlags
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.Var(&f.upstreams, "upstream", "an upstream cache URL; repeat it (or separate URLs by spaces) for several, first preferred (required)")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address to serve plain HTTP on")
	fs.StringVar(&f.cacheDir, "cache-dir", "", "keep fetched NARs in this directory (default: keep nothing, stream through)")
	fs.StringVar(&f.maxSize, "max-size", "", "bound of --cache-dir, such as 20GiB (required with --cache-dir)")
	fs.Var(&f.keys, "trusted-public-keys", "keys an upstream narinfo must be signed by, 'name:base64 ...' as in nix.conf")
	fs.StringVar(&f.trust, "trust", "", "any: accept narinfos without a trusted signature (NARs are still checked against them)")
	fs.StringVar(&f.netrc, "netrc-file", "", "netrc file with credentials for http(s) upstreams (default ~/.netrc)")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding a bearer token for http(s) upstreams")
	fs.DurationVar(&f.negativeTTL, "negative-ttl", upstream.DefaultNegativeTTL, "how long a path no upstream has is remembered as missing (0: not at all)")
	fs.IntVar(&f.maxConns, "max-conns", upstream.DefaultMaxConns, "NAR downloads in flight to each upstream (narinfo lookups have as many again of their own)")
	fs.DurationVar(&f.timeouts.Connect, "connect-timeout", upstream.DefaultConnectTimeout, "bound of an upstream connection's handshake")
	fs.DurationVar(&f.timeouts.FirstByte, "first-byte-timeout", upstream.DefaultFirstByteTimeout, "bound of the wait for an upstream's answer")
	fs.DurationVar(&f.timeouts.Idle, "idle-timeout", upstream.DefaultIdleTimeout, "longest stall of an upstream body")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.metricsListen, "metrics-listen", "", "serve the Prometheus metrics on this address, to anyone who reaches it (default: at "+proxy.MetricsPath+" on --listen, to loopback callers only)")
	if _, err := parse(fs, args, 0, 0, proxySynopsis); err != nil {
		return nil, err
	}
	if len(f.upstreams) == 0 {
		return nil, usagef("proxy: --upstream URL is required")
	}
	if (f.cacheDir == "") != (f.maxSize == "") {
		return nil, usagef("proxy: --cache-dir and --max-size go together")
	}
	switch {
	case f.trust != "" && f.trust != "any":
		return nil, usagef("proxy: --trust %q: the only value is any", f.trust)
	case f.trust == "" && len(f.keys) == 0:
		return nil, usagef("proxy: give --trusted-public-keys (the upstreams' keys), or --trust any")
	}
	return &f, nil
}

func proxyCmd(args []string) error {
	f, err := parseProxyFlags(args)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return fmt.Errorf("proxy: --log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	var keys []signature.PublicKey
	for _, k := range f.keys {
		pk, err := signature.ParsePublicKey(k)
		if err != nil {
			return fmt.Errorf("proxy: --trusted-public-keys %q: %w", k, err)
		}
		keys = append(keys, pk)
	}
	opts := upstream.SourceOptions{Timeouts: f.timeouts, NetrcFile: f.netrc}
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return fmt.Errorf("proxy: --token-file: %w", err)
		}
		opts.BearerToken = strings.TrimSpace(string(b))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var sources []upstream.Source
	for _, u := range f.upstreams {
		src, err := upstream.NewSource(ctx, u, opts)
		if err != nil {
			return fmt.Errorf("proxy: %w", err)
		}
		sources = append(sources, src)
	}
	negTTL := f.negativeTTL
	if negTTL == 0 {
		negTTL = -1 // the Fetcher's "none"; its 0 is the default
	}
	cfg := proxy.Config{
		Fetcher: upstream.New(upstream.Config{
			Sources: sources, TrustedKeys: keys, TrustAny: f.trust == "any",
			NegativeTTL: negTTL, MaxConns: f.maxConns, Logger: log,
		}),
		Logger: log,
	}
	if f.cacheDir != "" {
		m, err := diskspace.ParseMinFree(f.maxSize)
		if err != nil || m.Percent > 0 || m.Bytes <= 0 {
			return fmt.Errorf("proxy: --max-size %q: want a size such as 20GiB or 500MB", f.maxSize)
		}
		cfg.Cache, err = diskcache.Open(f.cacheDir, m.Bytes, log)
		if err != nil {
			return fmt.Errorf("proxy: %w", err)
		}
	}
	ln, err := bindFor("proxy", "", "--listen", f.listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	var mln net.Listener
	if f.metricsListen != "" {
		if mln, err = bindFor("proxy", "", "--metrics-listen", f.metricsListen); err != nil {
			return err
		}
		defer mln.Close()
	}
	metrics := proxy.NewMetrics(cfg.Fetcher, cfg.Cache)
	cfg.Metrics = metrics
	hs := &http.Server{
		Handler:           withMetrics(proxy.New(cfg), metrics, f.metricsListen != ""),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	names := make([]string, len(sources))
	for i, s := range sources {
		names[i] = s.Name()
	}
	log.Info("nixbucket proxy serving", "url", "http://"+ln.Addr().String(), "upstreams", strings.Join(names, " "), "cache-dir", f.cacheDir, "max-size", f.maxSize, "version", versionName())
	errc := make(chan error, 2)
	if mln != nil {
		ms := &http.Server{Handler: metrics.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: hs.ErrorLog}
		defer ms.Close()
		go func() { errc <- ms.Serve(mln) }()
		log.Info("nixbucket proxy metrics", "url", "http://"+mln.Addr().String()+proxy.MetricsPath)
	}
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// withMetrics serves the metrics at proxy.MetricsPath of the proxy's own
// listener to loopback callers, as serve does, unless they have a
// listener of their own (elsewhere); every other path goes to h.
func withMetrics(h http.Handler, m *proxy.Metrics, elsewhere bool) http.Handler {
	mh := m.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != proxy.MetricsPath || elsewhere {
			h.ServeHTTP(w, r)
			return
		}
		if !forwarded.Local(r) {
			http.Error(w, "403 Forbidden: the metrics are served to loopback callers only (see --metrics-listen)", http.StatusForbidden)
			return
		}
		mh.ServeHTTP(w, r)
	})
}
