package migrate

import (
	"context"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// The console's traffic counters (meta.TrafficStore): history, not
// configuration, but a node restarted on the destination (same host and
// data directory, so the same node id) takes its week back only if it
// was copied.

// trafficBatch bounds the rows of one SaveTraffic.
const trafficBatch = 1000

type trafficKey struct {
	node, bucket string
	hour         int64
}

// trafficRows returns every row of s by node, bucket and hour: a few
// hundred thousand at most (nodes × 256 buckets × 8 days of hours).
func trafficRows(ctx context.Context, s meta.Store) (map[trafficKey]meta.TrafficHour, error) {
	out := map[trafficKey]meta.TrafficHour{}
	err := s.LoadTraffic(ctx, "", 0, func(r meta.TrafficHour) error {
		out[trafficKey{r.Node, r.Bucket, r.Hour}] = r
		return nil
	})
	return out, err
}

// copyTraffic copies the rows the destination lacks or holds otherwise.
func (c *Copier) copyTraffic(ctx context.Context) error {
	have, err := trafficRows(ctx, c.To.Meta)
	if err != nil {
		return fmt.Errorf("migrate: reading the destination's traffic counters: %w", err)
	}
	var batch []meta.TrafficHour
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		// oldest 0: the copy deletes nothing; the destination's server
		// expires old hours at its first save.
		if err := c.To.Meta.SaveTraffic(ctx, batch, 0); err != nil {
			return fmt.Errorf("migrate: traffic counters: %w", err)
		}
		c.tally.add(true, "traffic hours", int64(len(batch)))
		batch = batch[:0]
		return nil
	}
	err = c.From.Meta.LoadTraffic(ctx, "", 0, func(r meta.TrafficHour) error {
		if have[trafficKey{r.Node, r.Bucket, r.Hour}] == r {
			c.tally.add(false, "traffic hours", 1)
			return nil
		}
		if batch = append(batch, r); len(batch) == trafficBatch {
			return flush()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("migrate: reading the source's traffic counters: %w", err)
	}
	return flush()
}

// traffic compares the traffic counters: every source row is in the
// destination with the same counts.
func (v *verifier) traffic(ctx context.Context) error {
	have, err := trafficRows(ctx, v.c.To.Meta)
	if err != nil {
		return err
	}
	return v.c.From.Meta.LoadTraffic(ctx, "", 0, func(r meta.TrafficHour) error {
		if got, ok := have[trafficKey{r.Node, r.Bucket, r.Hour}]; !ok {
			v.differ("traffic of node %s, bucket %s, hour %d: missing", r.Node, r.Bucket, r.Hour)
		} else if got != r {
			v.differ("traffic of node %s, bucket %s, hour %d: %+v, want %+v", r.Node, r.Bucket, r.Hour, got, r)
		}
		return nil
	})
}
