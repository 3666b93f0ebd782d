package postgres

import (
	"context"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/meta"
)

var _ meta.SettingsLister = (*Store)(nil)

// Settings returns every server-wide setting by name (meta.SettingsLister).
func (s *Store) Settings(ctx context.Context) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, value FROM settings ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list settings: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name string
		var value []byte
		if err := rows.Scan(&name, &value); err != nil {
			return nil, fmt.Errorf("list settings: %w", err)
		}
		out[name] = string(value)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list settings: %w", err)
	}
	return out, nil
}
