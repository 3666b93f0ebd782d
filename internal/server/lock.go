package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockData takes an exclusive lock on the data directory, so that a second
// server cannot share it (it would sweep the first one's uploads in
// progress). The admin commands do not take it: they only touch metadata,
// which SQLite locks itself. The lock goes with the process. The lock file
// holds the holder's process id, for the message a second server gives.
func lockData(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, inUse(dir)
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	// Best effort: the pid improves a message, and the README reads it to
	// send the running server SIGHUP.
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// inUse is the error of a second server on dir: which process holds it,
// and what to do.
func inUse(dir string) error {
	holder := "another nixbucket server"
	if b, err := os.ReadFile(filepath.Join(dir, "lock")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			holder += fmt.Sprintf(" (pid %d)", pid)
		}
	}
	return fmt.Errorf("data directory %s is in use by %s: stop it, or give this one a data directory of its own (--data DIR); nixbucket info --data %s shows where it listens", dir, holder, dir)
}
