package server

import (
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"strconv"
	"syscall"
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
	if err := CheckAccess(dir); err != nil {
		return err
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

// userName is the name of the user uid, or "uid N" when it has none.
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}

// whoami names the user this process runs as, for messages.
func whoami() string { return userName(os.Geteuid()) }

// CheckAccess says, when this user may not write to the data directory
// dir, whose it is and what to do: run as its owner (a service's data
// directory, such as /var/lib/nixbucket, belongs to its user). It returns
// nil when the directory is writable or cannot be looked at.
func CheckAccess(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil || syscall.Access(dir, 2|1 /* W_OK|X_OK */) == nil {
		return nil
	}
	owner := "its owner"
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		owner = userName(int(st.Uid))
	}
	return fmt.Errorf("data directory %s belongs to %s, and this user (%s) may not write to it: run nixbucket as %s (sudo -u %s nixbucket …), or give --data a directory of your own",
		dir, owner, whoami(), owner, owner)
}
