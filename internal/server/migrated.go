package server

import (
	"context"
	"fmt"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// checkMigrated refuses a metadata store that nixbucket migrate is still
// filling, or that a migrate left unfinished (meta.SettingMigrating), and
// marks one migrate filled as served (meta.SettingMigrateServed).
func checkMigrated(ctx context.Context, store meta.Store) error {
	v, err := store.Setting(ctx, meta.SettingMigrating)
	if err != nil {
		return fmt.Errorf("reading the metadata store: %w", err)
	}
	if v != "" {
		return fmt.Errorf("the metadata store is being filled by nixbucket migrate (%s), which has not finished: run the same migrate command again until it reports the copy verified, then start the server", v)
	}
	// A copy served from now on takes writes migrate must not overwrite.
	src, err := store.Setting(ctx, meta.SettingMigrateSource)
	if err != nil {
		return fmt.Errorf("reading the metadata store: %w", err)
	}
	if src == "" {
		return nil
	}
	served, err := store.Setting(ctx, meta.SettingMigrateServed)
	if err != nil {
		return fmt.Errorf("reading the metadata store: %w", err)
	}
	if served != "" {
		return nil
	}
	if err := store.SetSetting(ctx, meta.SettingMigrateServed, time.Now().UTC().Format(time.RFC3339)); err != nil {
		return fmt.Errorf("marking the migrated metadata store as served: %w", err)
	}
	return nil
}
