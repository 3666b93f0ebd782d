package sqlite

import (
	"context"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Traffic counters (meta.TrafficStore): a table of their own, written
// through write, not writeAnnounced, so that a save leaves the generation
// (and every cache that follows it) alone.

var _ meta.TrafficStore = (*Store)(nil)

var (
	qPutTraffic = query(`INSERT INTO traffic (node, bucket, hour, requests, bytes_in, bytes_out) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (node, bucket, hour) DO UPDATE SET requests = excluded.requests, bytes_in = excluded.bytes_in, bytes_out = excluded.bytes_out`)
	qExpireTraffic = query(`DELETE FROM traffic WHERE hour < ?`)
	qTraffic       = query(`SELECT node, bucket, hour, requests, bytes_in, bytes_out FROM traffic WHERE hour >= ? ORDER BY node, bucket, hour`)
	qTrafficOfNode = query(`SELECT node, bucket, hour, requests, bytes_in, bytes_out FROM traffic WHERE node = ? AND hour >= ? ORDER BY bucket, hour`)
)

// SaveTraffic sets rows and deletes the hours before oldest, without
// announcing anything.
func (s *Store) SaveTraffic(ctx context.Context, rows []meta.TrafficHour, oldest int64) error {
	return s.write(ctx, func(t *txn) error {
		for _, r := range rows {
			if _, err := t.exec(qPutTraffic, r.Node, r.Bucket, r.Hour, r.Requests, r.BytesIn, r.BytesOut); err != nil {
				return fmt.Errorf("save traffic of node %s: %w", r.Node, err)
			}
		}
		if _, err := t.exec(qExpireTraffic, oldest); err != nil {
			return fmt.Errorf("expire traffic: %w", err)
		}
		return nil
	})
}

// LoadTraffic calls fn with the rows of node ("" for all) from hour since.
func (s *Store) LoadTraffic(ctx context.Context, node string, since int64, fn func(meta.TrafficHour) error) error {
	return s.read(ctx, func(t *txn) error {
		q, args := qTraffic, []any{since}
		if node != "" {
			q, args = qTrafficOfNode, []any{node, since}
		}
		rows, err := t.query(q, args...)
		if err != nil {
			return fmt.Errorf("load traffic: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var r meta.TrafficHour
			if err := rows.Scan(&r.Node, &r.Bucket, &r.Hour, &r.Requests, &r.BytesIn, &r.BytesOut); err != nil {
				return fmt.Errorf("load traffic: %w", err)
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("load traffic: %w", err)
		}
		return nil
	})
}
