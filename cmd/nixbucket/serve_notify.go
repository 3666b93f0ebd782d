package main

import (
	"context"
	"log/slog"

	"github.com/nixbucket/nixbucket/internal/sdnotify"
)

// notifyLifecycle tells systemd (Type=notify, $NOTIFY_SOCKET) that the
// server is ready, to be called once the listener is bound and served, and
// that it is stopping once ctx, the stop signal's context, ends. Without
// $NOTIFY_SOCKET it does nothing.
func notifyLifecycle(ctx context.Context, log *slog.Logger) {
	notifySystemd(log, sdnotify.Ready)
	<-ctx.Done()
	notifySystemd(log, sdnotify.Stopping)
}

// notifySystemd sends one state to systemd and logs a failure: a server
// that cannot tell systemd it is ready still serves.
func notifySystemd(log *slog.Logger, state string) {
	if _, err := sdnotify.Send(state); err != nil {
		log.Warn("cannot notify systemd", "state", state, "err", err)
	}
}
