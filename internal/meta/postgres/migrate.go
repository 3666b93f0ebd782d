package postgres

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nixbucket/nixbucket/internal/meta/migration"
)

// migrationFiles holds the schema migrations, named NNNN_description.sql
// and numbered from 1 without gaps. A released migration is never edited;
// changes go into a new file. The numbers are this store's own, unrelated
// to the SQLite store's.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// loadMigrations returns the embedded migrations in version order.
func loadMigrations() ([]migration.Migration, error) {
	return migration.Load(migrationFiles, "migrations/*.sql")
}

// migrationLock is the pg_advisory_lock key under which migrations run:
// "nbmeta" in ASCII, a number no other program is likely to pick.
const migrationLock int64 = 0x6e626d657461

// migrate applies the migrations newer than the database's, each in its
// own transaction that records it in schema_migrations. It holds a session
// advisory lock throughout, so that servers starting at once apply each
// migration once; it refuses a database written by a newer schema, and
// without upgrade one of an older schema (a *migration.OlderError).
func migrate(ctx context.Context, pool *pgxpool.Pool, upgrade bool) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	var took bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, migrationLock).Scan(&took); err != nil {
		return fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	if !took {
		// Another server (or nixbucket migrate) holds it: upgrading the
		// schema of a large store can take minutes, so say why this one
		// does not answer yet.
		slog.Info("waiting for another process to finish upgrading the metadata schema")
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
			return fmt.Errorf("migrate: take the migration lock: %w", err)
		}
	}
	defer func() {
		// On a broken connection the lock goes with the session.
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock); err != nil {
			conn.Conn().Close(context.Background())
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY,
		name    text    NOT NULL,
		applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	var have int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if have > len(ms) {
		return fmt.Errorf("schema version %d is newer than this program's %d", have, len(ms))
	}
	if have > 0 && have < len(ms) && !upgrade {
		return &migration.OlderError{Have: have, Want: len(ms)}
	}
	done := migration.Progress("postgres", have, len(ms))
	for _, m := range ms[have:] {
		start := time.Now()
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		done(m, time.Since(start))
	}
	return nil
}
