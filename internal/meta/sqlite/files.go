package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	driver "modernc.org/sqlite"
)

// The database's files hold the admin secret and the signing keys, so they
// are private to their owner whatever the umask: dbFileMode.
//
// Open creates the database file itself, with that mode, before SQLite
// sees it, and tightens the files of an older store. SQLite creates the
// -wal and -shm files later with the database file's mode (and sets it
// with fchmod, so the umask cannot loosen it), and openGen gives -gen the
// same.

// dbFileMode is the permission of meta.db and of its -wal, -shm and -gen
// companions.
const dbFileMode fs.FileMode = 0o600

// companions are the suffixes of the files beside the database.
var companions = []string{"-wal", "-shm", "-gen"}

// secureFiles creates the database file at path with dbFileMode if it is
// missing, and takes the group's and others' permissions off it and off
// any companion that exists.
func secureFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, dbFileMode)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	err = tighten(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("database file %s: %w", path, err)
	}
	for _, suffix := range companions {
		f, err := os.OpenFile(path+suffix, os.O_RDONLY, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("database file %s%s: %w", path, suffix, err)
		}
		err = tighten(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("database file %s%s: %w", path, suffix, err)
		}
	}
	return nil
}

// tighten removes every permission bit of f beyond its owner's.
func tighten(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&^0o700 != 0 {
		return f.Chmod(perm & 0o700)
	}
	return nil
}

// keepWAL asks SQLite to keep the -wal and -shm files, with the space they
// hold, when the last connection closes (SQLITE_FCNTL_PERSIST_WAL), and
// checkpoints what an earlier process left in the WAL. The WAL is then
// never created anew at start, and the next write transaction starts over
// at the beginning of the WAL file, into space it already holds: on a full
// disk a server still opens, and a delete still commits.
func keepWAL(ctx context.Context, db *sql.DB) error {
	c, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("keep WAL: %w", err)
	}
	defer c.Close()
	err = c.Raw(func(dc any) error {
		fc, ok := dc.(driver.FileControl)
		if !ok {
			return fmt.Errorf("driver connection %T has no file control", dc)
		}
		_, err := fc.FileControlPersistWAL("main", 1)
		return err
	})
	if err != nil {
		return fmt.Errorf("keep WAL: %w", err)
	}
	// A checkpoint that cannot finish (another process reading, no room to
	// grow the database) is no reason to refuse to start.
	c.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	return nil
}

// afterFull follows a commit that failed for want of space. SQLite rolls
// such a transaction back, but may leave it open: a ROLLBACK makes sure,
// lest every later BEGIN fail. Then a passive checkpoint (it waits for no
// reader) copies the WAL into the database where it can, so that the next
// transaction may start over at the beginning of the WAL file, in space
// it already holds, rather than grow it: a retried delete then commits.
func (s *Store) afterFull(ctx context.Context) {
	s.w.db.ExecContext(ctx, "ROLLBACK") // "no transaction is active" is fine
	s.w.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
}

// sqliteFull is SQLITE_FULL, the primary result code of "database or disk
// is full".
const sqliteFull = 13

// diskFull marks an SQLITE_FULL error so that errors.Is(err,
// syscall.ENOSPC) holds, as it does for a file write that failed for
// space: callers tell a full disk from other failures without knowing
// SQLite.
func diskFull(err error) error {
	var e *driver.Error
	if err == nil || errors.Is(err, syscall.ENOSPC) || !errors.As(err, &e) || e.Code()&0xff != sqliteFull {
		return err
	}
	return fmt.Errorf("%w (%w)", err, syscall.ENOSPC)
}
