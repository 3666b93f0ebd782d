package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// sweepLockName is the file in the data directory that orders a starting
// server's sweep of unreferenced blobs after the blob writes of admin
// commands (`nixbucket bucket resign`) that run beside a server. Such a
// command commits a blob, then the metadata that refers to it; a server
// starting in between would take the blob for a crash's garbage. The
// command holds the lock shared while it writes (HoldSweep), the server
// exclusively while it sweeps.
const sweepLockName = "sweep.lock"

// HoldSweep keeps servers starting on the data directory dir from
// sweeping unreferenced blobs until release is called. Admin commands
// that write blobs while a server may run hold it for their run.
func HoldSweep(dir string) (release func() error, err error) {
	f, err := flockFile(dir, syscall.LOCK_SH)
	if err != nil {
		return nil, err
	}
	return f.Close, nil
}

// lockSweep takes the sweep lock exclusively, waiting (and saying so) for
// admin commands that hold it.
func lockSweep(dir string, log *slog.Logger) (*os.File, error) {
	f, err := flockFile(dir, syscall.LOCK_EX|syscall.LOCK_NB)
	if err == nil {
		return f, nil
	}
	log.Info("waiting for an admin command writing to the data directory before sweeping it", "dir", dir)
	return flockFile(dir, syscall.LOCK_EX)
}

// flockFile locks the sweep lock file of dir, creating it if needed.
// Created by root (an admin command under sudo), it is given to the data
// directory's owner, or the server could not open it.
func flockFile(dir string, how int) (*os.File, error) {
	path := filepath.Join(dir, sweepLockName)
	f, err := os.Open(path) // flock needs no write access
	if errors.Is(err, fs.ErrNotExist) {
		if f, err = os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o600); err == nil && os.Geteuid() == 0 {
			if fi, serr := os.Stat(dir); serr == nil {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					err = f.Chown(int(st.Uid), int(st.Gid))
				}
			}
		}
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		return nil, fmt.Errorf("sweep lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("sweep lock %s: %w", path, err)
	}
	return f, nil
}

// sweep removes the blobs committed before cutoff that nothing refers to
// (objects.Service.Sweep), under the sweep lock.
func (s *Server) sweep(ctx context.Context, cutoff time.Time) (int, error) {
	f, err := lockSweep(s.opts.Data, s.log)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return s.objects.Sweep(ctx, cutoff)
}
