package server

import (
	"fmt"
	"log/slog"
	"os"
)

// checkDataDir makes sure the data directory keeps its secrets (the
// credentials, the netrc, meta.db with the keys) to its owner. A directory
// others may write to is refused: anyone could swap meta.db or plant a
// symlink. One others may read or enter is tightened to the owner alone,
// and the log says so.
func checkDataDir(dir string, log *slog.Logger) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	perm := fi.Mode().Perm()
	if perm&0o022 != 0 {
		return fmt.Errorf("data directory %s is writable by group or others (mode %04o): it holds the admin credentials and signing keys; run chmod 700 %s", dir, perm, dir)
	}
	if perm&0o077 != 0 {
		tight := perm & 0o700
		if err := os.Chmod(dir, tight); err != nil {
			return fmt.Errorf("data directory %s is readable by others (mode %04o) and could not be tightened: %w", dir, perm, err)
		}
		log.Warn("data directory was readable by others: tightened it to the owner alone, since it holds the admin credentials and signing keys",
			"dir", dir, "was", fmt.Sprintf("%04o", perm), "now", fmt.Sprintf("%04o", tight))
	}
	return nil
}
