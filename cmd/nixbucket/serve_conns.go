package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"syscall"
	"time"

	"github.com/nixbucket/nixbucket/internal/fastlane"
)

// defaultMaxConns is the connection cap when --max-conns is not given:
// half the open-file limit (which Go raises to the hard limit at start),
// leaving the other half for the blobs, uploads and database those
// connections open. Over the cap the server closes idle connections
// rather than failing accept with EMFILE, which would lock every new
// client out until the silent sockets time out.
func defaultMaxConns() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 4096
	}
	return max(int(min(rl.Cur, 1<<22)/2), 32)
}

// stopServing stops the server gracefully: hs and fl stop accepting at
// once and close idle connections, requests in flight (uploads above all)
// get grace to finish, and whatever is still open then is cut. A cut is
// logged, not returned: the stop itself went as asked, so the process
// still exits 0.
func stopServing(log *slog.Logger, hs *http.Server, fl *fastlane.Listener, grace time.Duration) error {
	log.Info("shutting down: finishing requests in flight", "grace", grace)
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := hs.Shutdown(ctx)
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		err = fl.Shutdown(ctx)
	}
	switch {
	case err == nil || errors.Is(err, http.ErrServerClosed):
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		n := fl.Cut()
		hs.Close()
		log.Warn("shutdown grace over: cut the requests still in flight", "cut", n, "grace", grace)
		return nil
	default:
		return fmt.Errorf("shutdown: %w", err)
	}
}
