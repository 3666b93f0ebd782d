package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Traffic counters (meta.TrafficStore): a table of their own, written
// through write, not writeAnnounced, so that a save neither advances the
// generation nor sends a notification to every node.

var _ meta.TrafficStore = (*Store)(nil)

// SaveTraffic sets rows and deletes the hours before oldest, without
// announcing anything. The rows go as arrays in one statement: one round
// trip however many hours changed.
func (s *Store) SaveTraffic(ctx context.Context, rows []meta.TrafficHour, oldest int64) error {
	n := len(rows)
	nodes, buckets := make([]string, 0, n), make([]string, 0, n)
	hours, reqs, in, out := make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n)
	for _, r := range rows {
		if err := meta.CheckKey(r.Node + r.Bucket); err != nil {
			return fmt.Errorf("save traffic: %w", err)
		}
		nodes, buckets = append(nodes, r.Node), append(buckets, r.Bucket)
		hours, reqs = append(hours, r.Hour), append(reqs, r.Requests)
		in, out = append(in, r.BytesIn), append(out, r.BytesOut)
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		if n > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO traffic (node, bucket, hour, requests, bytes_in, bytes_out)
				SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
				ON CONFLICT (node, bucket, hour) DO UPDATE SET
					requests = excluded.requests, bytes_in = excluded.bytes_in, bytes_out = excluded.bytes_out`,
				nodes, buckets, hours, reqs, in, out); err != nil {
				return fmt.Errorf("save traffic: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM traffic WHERE hour < $1`, oldest); err != nil {
			return fmt.Errorf("expire traffic: %w", err)
		}
		return nil
	})
}

// LoadTraffic calls fn with the rows of node ("" for all) from hour since.
func (s *Store) LoadTraffic(ctx context.Context, node string, since int64, fn func(meta.TrafficHour) error) error {
	rows, err := s.pool.Query(ctx, `SELECT node, bucket, hour, requests, bytes_in, bytes_out FROM traffic
		WHERE ($1 = '' OR node = $1) AND hour >= $2 ORDER BY node, bucket, hour`, node, since)
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
}
