package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nixbucket/nixbucket/internal/observe"
	"github.com/nixbucket/nixbucket/internal/server"
)

// serveLogger is the server's logger: slog's text or JSON format on
// stderr (--log-format), which the access log follows too.
func serveLogger(format string, level slog.Level, out io.Writer) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(out, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(out, opts)), nil
	}
	return nil, fmt.Errorf("serve: --log-format %q: want text or json", format)
}

// closeLogQueue writes out the log lines queued, waiting a few seconds
// at most for a blocked stderr.
func closeLogQueue(q *observe.LogQueue) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q.Close(ctx)
}

// accessLogOutput is where the access log goes: stderr, beside the
// server's other lines, or nowhere (--access-log=off).
func accessLogOutput(flag string, out io.Writer) (io.Writer, error) {
	switch flag {
	case "on":
		return out, nil
	case "off":
		return nil, nil
	}
	return nil, fmt.Errorf("serve: --access-log %q: want on or off", flag)
}

// serveMetrics serves srv's metrics on a listener of their own
// (--metrics-listen), to whoever reaches it: the address is the access
// control. It returns the server, to be closed at shutdown.
func serveMetrics(ln net.Listener, srv *server.Server, log *slog.Logger) *http.Server {
	hs := &http.Server{Handler: srv.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		if err := hs.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Error("metrics listener failed", "err", err)
		}
	}()
	return hs
}

// metricsBuckets is server.Options.MetricsMaxBuckets for
// --metrics-max-buckets, where 0 means none (every bucket is "other").
func metricsBuckets(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}
