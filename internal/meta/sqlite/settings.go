package sqlite

import (
	"context"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/meta"
)

var _ meta.SettingsLister = (*Store)(nil)

var qSettings = query(`SELECT name, value FROM settings ORDER BY name`)

// Settings returns every server-wide setting by name (meta.SettingsLister).
func (s *Store) Settings(ctx context.Context) (map[string]string, error) {
	rows, err := s.r.stmt(qSettings).QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list settings: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return nil, fmt.Errorf("list settings: %w", err)
		}
		out[name] = value
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list settings: %w", err)
	}
	return out, nil
}
