package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"time"

	"github.com/nixbucket/nixbucket/internal/console"
	"github.com/nixbucket/nixbucket/internal/traffic"
)

// TrafficSaveInterval is how often a node saves its traffic counters to
// the metadata store (and once more when it stops).
const TrafficSaveInterval = 5 * time.Minute

// consoleRoutes mounts the web console (internal/console) at /-/ui/, and
// sets up the traffic counters it charts, taking back this node's saved
// history.
func (s *Server) consoleRoutes(mux *http.ServeMux) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	node := traffic.NodeID(s.opts.Data)
	s.traffic = traffic.New(nil)
	if err := s.traffic.RestoreFrom(ctx, s.meta, node); err != nil {
		s.log.Warn("traffic counters of the last run not restored", "err", err)
	}
	key, err := s.consoleKey(ctx)
	var h http.Handler
	if err == nil {
		s.console, err = console.New(console.Config{Store: s.meta, Access: s.access, Objects: s.objects,
			Traffic: s.traffic, Node: node, Scheme: s.scheme(), Key: key, Log: s.log,
			Refused: func(err error) { s.metrics.AuthFailure(authFailureReason(err)) }})
		h = s.console
	}
	if err != nil {
		s.log.Error("web console unavailable", "err", err)
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "the web console is unavailable: see the server's log", http.StatusServiceUnavailable)
		})
	}
	mux.Handle(console.Prefix, h)
}

// runTraffic saves the traffic counters every TrafficSaveInterval until
// ctx ends, then once more.
func (s *Server) runTraffic(ctx context.Context) {
	if s.traffic == nil {
		return
	}
	s.traffic.Run(ctx, s.meta, traffic.NodeID(s.opts.Data), TrafficSaveInterval, s.log)
}

// consoleKey returns the console's session MAC key, the setting
// console.KeySetting, creating it on first use: under the store's lock on
// a shared store, so that nodes starting at once agree on one key (every
// node must verify every other node's sessions).
func (s *Server) consoleKey(ctx context.Context) ([]byte, error) {
	var key []byte
	read := func() error {
		v, err := s.meta.Setting(ctx, console.KeySetting)
		if err != nil {
			return fmt.Errorf("reading the console key: %w", err)
		}
		if v == "" {
			return nil
		}
		key, err = base64.StdEncoding.DecodeString(v)
		if err != nil || len(key) < 32 {
			return fmt.Errorf("the setting %s is no console key", console.KeySetting)
		}
		return nil
	}
	create := func() error {
		if err := read(); err != nil || key != nil {
			return err // another node made it meanwhile
		}
		key = make([]byte, 32)
		rand.Read(key)
		return s.meta.SetSetting(ctx, console.KeySetting, base64.StdEncoding.EncodeToString(key))
	}
	if err := read(); err != nil || key != nil {
		return key, err
	}
	var err error
	if x, ok := s.meta.(exclusive); ok {
		err = x.Exclusive(ctx, "console-key", create)
	} else {
		err = create()
	}
	return key, err
}
