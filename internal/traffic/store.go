package traffic

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Prefix starts the name of every node's setting.
const Prefix = "traffic/"

// Store is where counters are kept across restarts and nodes: the
// metadata store's settings (meta.IAM and meta.SettingsLister).
type Store interface {
	Setting(ctx context.Context, name string) (string, error)
	SetSetting(ctx context.Context, name, value string) error
	Settings(ctx context.Context) (map[string]string, error)
}

// NodeID names a node's setting: the same for a server restarted on the
// same host and data directory, different for the nodes of a cluster
// (each has a data directory of its own, locked while it runs).
func NodeID(dataDir string) string {
	host, _ := os.Hostname()
	sum := sha256.Sum256([]byte(host + "\x00" + dataDir))
	return hex.EncodeToString(sum[:8])
}

// Saved is the setting's JSON.
type saved struct {
	Version int     `json:"v"`
	Buckets History `json:"b"`
}

// Restore adds the node's saved counters to c, once at start.
func (c *Counters) RestoreFrom(ctx context.Context, st Store, node string) error {
	v, err := st.Setting(ctx, Prefix+node)
	if err != nil || v == "" {
		return err
	}
	h, err := decode(v)
	if err != nil {
		return fmt.Errorf("traffic of node %s: %w", node, err)
	}
	c.Restore(h)
	return nil
}

func decode(v string) (History, error) {
	var s saved
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return nil, err
	}
	if s.Buckets == nil {
		s.Buckets = History{}
	}
	return s.Buckets, nil
}

// Save writes c as the node's setting, when something was recorded since
// the last save. Each save is one setting write; the store announces it
// (caches of settings reload once), so saves are minutes apart.
func (c *Counters) Save(ctx context.Context, st Store, node string) error {
	if !c.dirty.Swap(false) {
		return nil
	}
	b, err := json.Marshal(saved{Version: 1, Buckets: c.Snapshot()})
	if err != nil {
		return err
	}
	if err := st.SetSetting(ctx, Prefix+node, string(b)); err != nil {
		c.dirty.Store(true)
		return fmt.Errorf("saving traffic counters: %w", err)
	}
	return nil
}

// Run saves c every interval until ctx ends, then once more.
func (c *Counters) Run(ctx context.Context, st Store, node string, every time.Duration, log *slog.Logger) {
	if every <= 0 {
		every = 5 * time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if err := c.Save(sctx, st, node); err != nil {
				log.Warn("traffic counters not saved at shutdown", "err", err)
			}
			cancel()
			return
		case <-t.C:
			if err := c.Save(ctx, st, node); err != nil {
				log.Warn("traffic counters not saved", "err", err)
			}
		}
	}
}

// Load returns every node's counts added up: this node's from memory
// (fresher than its last save), the others' from their settings.
func (c *Counters) Load(ctx context.Context, st Store, node string) (History, error) {
	all, err := st.Settings(ctx)
	if err != nil {
		return nil, err
	}
	out := c.Snapshot()
	oldest := c.now().Unix()/3600 - Hours + 1
	for name, v := range all {
		other, ok := strings.CutPrefix(name, Prefix)
		if !ok || other == node || v == "" {
			continue
		}
		h, err := decode(v)
		if err != nil {
			continue // a node's unreadable counters hide only its share
		}
		for b, hours := range h {
			for hr, v := range hours {
				if hr >= oldest {
					out.add(b, hr, v)
				}
			}
		}
	}
	return out, nil
}
