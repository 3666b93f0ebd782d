package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/nixbucket/nixbucket/internal/diskspace"
	"github.com/nixbucket/nixbucket/internal/fastlane"
	"github.com/nixbucket/nixbucket/internal/forwarded"
	"github.com/nixbucket/nixbucket/internal/observe"
	"github.com/nixbucket/nixbucket/internal/server"
)

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9000", "address to listen on")
	data := fs.String("data", "./nixbucket-data", "data directory")
	redirectReads := fs.Bool("redirect-reads", false, "answer GETs of NARs with a 307 to a presigned URL of the --blobs S3 store (clients must reach the store)")
	blobs := fs.String("blobs", "", "keep blobs in an S3 store: s3://BUCKET/PREFIX?endpoint=…&region=…&profile=… (the bucket must exist; AWS default credential chain); default: the data directory")
	blobCache := fs.String("blob-cache", "", "directory of the local copies of hot blobs of an S3 blob store (--blobs s3://…), served from there with sendfile; default: DATA/blobcache; unused with local blobs")
	blobCacheSize := fs.String("blob-cache-size", "10GiB", "bound of --blob-cache, such as 10GiB or 500MB; least recently used blobs go first; 0: no blob cache")
	metaURL := fs.String("meta", "", "metadata store: postgres://USER@HOST:PORT/DB?… for PostgreSQL shared by several servers; empty: SQLite in the data directory")
	region := fs.String("region", "us-east-1", "region reported to clients")
	domain := fs.String("domain", "", "enable virtual-host addressing BUCKET.DOMAIN")
	strict := fs.Bool("strict-region", false, "refuse signatures scoped to another region")
	account := fs.String("account", "", "12-digit account id used in ARNs (default 000000000000; remembered)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "format of the log lines (the access log's too): text or json, slog's formats")
	accessLog := fs.String("access-log", "on", "log one line per request on stderr (see README, Metrics and logs): on or off")
	metricsListen := fs.String("metrics-listen", "", "serve /-/metrics on this address instead, to anyone who reaches it (then /-/metrics on --listen answers 404); default: on --listen, to loopback callers and callers allowed nixbucket:GetMetrics")
	metricsMaxBuckets := fs.Int("metrics-max-buckets", observe.DefaultMaxBuckets, "buckets with a label of their own in the metrics, first seen first; the rest are counted as \"other\"")
	trusted := fs.String("trusted-proxies", "", "reverse proxies (IP addresses and CIDR prefixes, comma-separated, such as 127.0.0.1,10.0.0.0/8) whose X-Forwarded-For and X-Forwarded-Proto (or, without those, Forwarded) give the client's address and scheme: for the access log, aws:SourceIp and aws:SecureTransport, and the console's Secure cookie; default: none, the headers are ignored")
	lane := fs.Bool("fastlane", true, "serve plain GET and HEAD requests without net/http's per-request cost")
	maxConns := fs.Int("max-conns", 0, "most open connections (default: half the open-file limit); over it the longest idle are closed, or else the new one")
	grace := fs.Duration("shutdown-grace", 30*time.Second, "how long a stop waits for requests in flight (uploads) before cutting them")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS (and HTTP/2) with this PEM certificate chain; reread with --tls-key on SIGHUP")
	tlsKey := fs.String("tls-key", "", "PEM private key of --tls-cert")
	minFree := fs.String("min-free", "auto", "free disk space under which writes are refused with 507, e.g. 1GiB, 500MB or 5%; auto: 1GiB or 2%, whichever is smaller; 0: off")
	lifeInterval := fs.Duration("lifecycle-interval", time.Hour, "time between sweeps that abort abandoned multipart uploads and expire objects by the buckets' lifecycle rules; 0: off")
	gcInterval := fs.Duration("gc-interval", time.Hour, "how often buckets with gc=on are garbage-collected (see nixbucket gc); 0: never")
	sweepInterval := fs.Duration("sweep-interval", time.Hour, "how often an S3 blob store (--blobs) is swept of unreferenced blobs and unfinished uploads older than a day, which dead servers left; 0: never")
	backendTimeout := fs.Duration("backend-timeout", server.DefaultBackendTimeout, "how long a request waits for the metadata or blob store to make progress (answer a statement or a request, send the next bytes of a body) before it is answered 503 naming that store: a paused, partitioned or locked store; a slow but live one streams on; background jobs wait as long as it takes; 0: as long as the store takes")
	fs.String("config", "", "TOML file of settings named as these flags (see nixbucket.toml.example)")
	if err := parseConfigured(fs, args, "serve [--config FILE] [flags]\n"+configNote); err != nil {
		return err
	}
	minFreeV, err := diskspace.ParseMinFree(*minFree)
	if err != nil {
		return fmt.Errorf("serve: --min-free: %w", err)
	}
	cacheSize, err := diskspace.ParseMinFree(*blobCacheSize)
	if err != nil || cacheSize.Percent != 0 || !cacheSize.Set { // "auto" and "" are --min-free's, not sizes
		return usagef("serve: --blob-cache-size %q: want a size such as 10GiB or 500MB, or 0", *blobCacheSize)
	}
	trustedProxies, err := forwarded.Parse(*trusted)
	if err != nil {
		return usagef("serve: --trusted-proxies: %v", err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("serve: --log-level: %w", err)
	}
	if os.Getenv("GOGC") == "" {
		// A cache server's live heap is small and its garbage is per-request
		// headers: collecting half as often costs little memory and saves
		// about 5% of CPU per narinfo request (bench/nix.sh).
		debug.SetGCPercent(200)
	}
	// Every line goes through one queue, so a slow or blocked stderr never
	// makes a request (or a stop) wait for a line to be written.
	logOut := observe.NewLogQueue(os.Stderr)
	defer closeLogQueue(logOut)
	log, err := serveLogger(*logFormat, level, logOut)
	if err != nil {
		return err
	}
	logOut.ReportTo(log, "log lines")
	slog.SetDefault(log)
	accessOut, err := accessLogOutput(*accessLog, logOut)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	tlsCfg, err := serveTLS(ctx, *tlsCert, *tlsKey, log)
	if err != nil {
		return err
	}
	// Bind before the data directory is touched: when the address is
	// taken, nothing is created and the first start's banner is not lost.
	ln, err := bindListen("--listen", *listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	var metricsLn net.Listener
	if *metricsListen != "" {
		if metricsLn, err = bindListen("--metrics-listen", *metricsListen); err != nil {
			return err
		}
		defer metricsLn.Close()
	}
	srv, err := server.Open(ctx, server.Options{
		Data: *data, Meta: *metaURL, Blobs: *blobs, RedirectReads: *redirectReads,
		BlobCache: *blobCache, BlobCacheSize: cacheSize.Bytes,
		Region: *region, Domain: *domain, StrictRegion: *strict, Account: *account,
		Log: log, Scheme: urlScheme(tlsCfg), MinFree: minFreeV,
		LifecycleInterval: *lifeInterval, GCInterval: *gcInterval, SweepInterval: *sweepInterval,
		AccessLog: accessOut, LogJSON: *logFormat == "json", LogDropped: logOut.Dropped,
		MetricsMaxBuckets: metricsBuckets(*metricsMaxBuckets), MetricsElsewhere: metricsLn != nil,
		TrustedProxies: trustedProxies, BackendTimeout: *backendTimeout,
	})
	if err != nil {
		return err
	}
	defer srv.Close()

	endpoint, other := server.UsableEndpoint(urlScheme(tlsCfg), ln.Addr().String())
	if err := srv.RecordEndpoint(ctx, endpoint, other, clientCA(tlsCfg, *tlsCert)); err != nil {
		log.Warn("nixbucket info will not know the endpoint", "err", err)
	}
	if srv.FirstStart {
		banner := srv.Banner(ctx, endpoint, other)
		if *logFormat == "json" {
			// One JSON line, as every line of a JSON log: a log shipper
			// reading stderr takes it line by line.
			log.Info("first start", "banner", banner)
		} else {
			fmt.Fprint(logOut, banner)
		}
	}
	// The background work stops before srv.Close: a job in flight ends
	// with its context, and releases its job lock.
	bg, stopBG := context.WithCancel(context.Background())
	bgDone := make(chan struct{})
	go func() { srv.Run(bg); close(bgDone) }()
	defer func() { stopBG(); <-bgDone }()
	hs := &http.Server{
		Handler:           srv.Handler(),
		BaseContext:       srv.BaseContext,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig:         tlsCfg,
	}
	log.Info("nixbucket serving", "endpoint", endpoint, "data", *data, "region", *region, "version", versionName())
	// The fast lane also counts, caps and bounds the writes of the
	// connections net/http serves, so it is in front even when off.
	// hs is the one source of the timeouts, hooks and error log both
	// transports share; NewListener hooks its ConnState into hs.
	if *maxConns <= 0 {
		*maxConns = defaultMaxConns()
	}
	fl := fastlane.NewListener(ln, nil, fastlane.Options{
		Server: hs, Log: log, MaxConns: *maxConns, Passthrough: !*lane, TLS: tlsCfg,
		Refused: srv.Refused,
	})
	if metricsLn != nil {
		ms := serveMetrics(metricsLn, srv, log)
		defer ms.Close()
		log.Info("metrics served", "listen", metricsLn.Addr().String(), "path", server.MetricsPath)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(fl) }()
	go notifyLifecycle(ctx, log) // systemd Type=notify: READY=1 now, STOPPING=1 on a stop signal
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stop()
	return stopServing(log, hs, fl, *grace)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
