package server

import (
	"context"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// checkMigrated refuses a metadata store that nixbucket migrate is still
// filling, or that a migrate left unfinished (meta.SettingMigrating).
func checkMigrated(ctx context.Context, store meta.Store) error {
	v, err := store.Setting(ctx, meta.SettingMigrating)
	if err != nil {
		return fmt.Errorf("reading the metadata store: %w", err)
	}
	if v != "" {
		return fmt.Errorf("the metadata store is being filled by nixbucket migrate (%s), which has not finished: run the same migrate command again until it reports the copy verified, then start the server", v)
	}
	return nil
}
