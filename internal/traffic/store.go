package traffic

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Store is where counters are kept across restarts and nodes: the
// metadata store's traffic table, whose writes announce nothing (a save
// every few minutes must not make every node's caches reload).
type Store = meta.TrafficStore

// Keep is how many hours the store keeps (8 days): the ring's week and a
// day of slack for nodes whose clocks differ a little. Each save deletes
// every node's older hours, so a node gone for good leaves nothing
// behind for long.
const Keep = Hours + 24

// NodeID names a node's rows: the same for a server restarted on the
// same host and data directory, different for the nodes of a cluster
// (each has a data directory of its own, locked while it runs).
func NodeID(dataDir string) string {
	host, _ := os.Hostname()
	sum := sha256.Sum256([]byte(host + "\x00" + dataDir))
	return hex.EncodeToString(sum[:8])
}

// oldest returns the first hour of the ring.
func (c *Counters) oldest() int64 {
	return c.now().Unix()/3600 - Hours + 1
}

// RestoreFrom adds the node's saved counters to c, once at start.
func (c *Counters) RestoreFrom(ctx context.Context, st Store, node string) error {
	h := History{}
	err := st.LoadTraffic(ctx, node, c.oldest(), func(r meta.TrafficHour) error {
		h.add(r.Bucket, r.Hour, Hour{Requests: r.Requests, In: r.BytesIn, Out: r.BytesOut})
		return nil
	})
	if err != nil {
		return fmt.Errorf("traffic of node %s: %w", node, err)
	}
	c.Restore(h)
	c.saveMu.Lock()
	c.saved = h // what the store holds: the next save writes what differs
	c.saveMu.Unlock()
	return nil
}

// Save writes the node's hours that changed since the last save (in
// practice the current hour of each bucket in use), when something was
// recorded since, and deletes the hours older than Keep. It first retires
// the rings idle for Hours (see prune).
func (c *Counters) Save(ctx context.Context, st Store, node string) error {
	c.prune()
	if !c.dirty.Swap(false) {
		return nil
	}
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	snap := c.Snapshot()
	var rows []meta.TrafficHour
	for b, hours := range snap {
		for hr, v := range hours {
			if c.saved[b][hr] != v {
				rows = append(rows, meta.TrafficHour{Node: node, Bucket: b, Hour: hr,
					Requests: v.Requests, BytesIn: v.In, BytesOut: v.Out})
			}
		}
	}
	// Rows in key order: two saves of one node (a restart overlapping its
	// predecessor) then lock them in the same order.
	slices.SortFunc(rows, func(a, b meta.TrafficHour) int {
		return cmp.Or(strings.Compare(a.Bucket, b.Bucket), cmp.Compare(a.Hour, b.Hour))
	})
	if err := st.SaveTraffic(ctx, rows, c.now().Unix()/3600-Keep+1); err != nil {
		c.dirty.Store(true)
		return fmt.Errorf("saving traffic counters: %w", err)
	}
	c.saved = snap
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
// (fresher than its last save), the others' from the store.
func (c *Counters) Load(ctx context.Context, st Store, node string) (History, error) {
	out := c.Snapshot()
	err := st.LoadTraffic(ctx, "", c.oldest(), func(r meta.TrafficHour) error {
		if r.Node != node {
			out.add(r.Bucket, r.Hour, Hour{Requests: r.Requests, In: r.BytesIn, Out: r.BytesOut})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
