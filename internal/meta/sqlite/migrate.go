package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta/migration"
)

// migrationFiles holds the schema migrations, named NNNN_description.sql
// and numbered from 1 without gaps. A released migration is never edited;
// changes go into a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// loadMigrations returns the embedded migrations in version order.
func loadMigrations() ([]migration.Migration, error) {
	return migration.Load(migrationFiles, "migrations/*.sql")
}

// migrate applies the migrations newer than the database's user_version, all
// in one transaction, and records the new version. It refuses a database
// written by a newer schema, and without upgrade one of an older schema
// (a *migration.OlderError; a new, empty database is made all the same). A
// current schema needs no write lock, so opening does not wait for another
// process's write transaction.
func migrate(ctx context.Context, db *sql.DB, upgrade bool) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	var have int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if have == len(ms) {
		return nil
	}
	// Again inside the transaction: another process may have migrated
	// meanwhile.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migration: %w", err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if have > len(ms) {
		return fmt.Errorf("schema version %d is newer than this program's %d", have, len(ms))
	}
	if have == len(ms) {
		return nil
	}
	if have > 0 && !upgrade {
		return &migration.OlderError{Have: have, Want: len(ms)}
	}
	done := migration.Progress("sqlite", have, len(ms))
	for _, m := range ms[have:] {
		start := time.Now()
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		done(m, time.Since(start))
	}
	// PRAGMA takes no parameters; the value is an int we computed.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(ms))); err != nil {
		return fmt.Errorf("record schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migration: %w", err)
	}
	return nil
}
