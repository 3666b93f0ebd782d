// Package diskspace keeps a full disk a clear and recoverable condition
// for the data directory.
//
// A Guard refuses new writes once the free space of the data directory's
// file system drops under a threshold (MinFree), so that what is left
// stays available to deletes, and logs when that starts and ends. It also
// keeps a reserve: a preallocated file in the data directory that a
// delete may release when the disk is full all the same (another program
// filled it, or one large upload did), so that the metadata transaction
// that frees space can still commit. The reserve is made again once the
// space is back.
//
// Refusals are errors that match syscall.ENOSPC, as a write that failed
// for space does, so callers need one test for both.
package diskspace

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// ReserveName is the reserve file's name in the data directory.
const ReserveName = "reserve"

// Reserve size bounds: 1/256 of the file system, within these. The floor
// covers what SQLite may need to finish a delete on a full disk: growing
// the database by what its WAL holds (a checkpoint comes every 1000 pages,
// 4 MiB) and a new WAL.
const (
	minReserve = 8 << 20
	maxReserve = 64 << 20
)

// watchEvery is how often Watch looks at the free space.
const watchEvery = 5 * time.Second

// Options configure a Guard.
type Options struct {
	MinFree MinFree
	Log     *slog.Logger
}

// Guard watches the free space of one directory's file system. It is safe
// for concurrent use.
type Guard struct {
	dir     string
	reserve string // path of the reserve file
	size    int64  // of the reserve
	min     int64  // the threshold in bytes
	log     *slog.Logger
	statfs  func(dir string) (avail, total int64, err error)

	mu     sync.Mutex
	low    bool // under the threshold, and logged
	making bool // the reserve is being made
	have   bool // the reserve was there at full size when last looked at
}

// Open starts guarding dir, and makes the reserve if it is missing and
// there is room for it.
func Open(dir string, opts Options) (*Guard, error) {
	g := &Guard{dir: dir, reserve: filepath.Join(dir, ReserveName), log: opts.Log, statfs: statfs}
	if g.log == nil {
		g.log = slog.Default()
	}
	_, total, err := g.statfs(dir)
	if err != nil {
		return nil, err
	}
	g.min = opts.MinFree.Of(total)
	g.size = min(max(total/256, minReserve), maxReserve)
	os.Remove(g.reserve + ".tmp") // left by a crash while making it
	g.check(false)
	return g, nil
}

// MinFree returns the threshold in bytes.
func (g *Guard) MinFree() int64 { return g.min }

// Free returns the bytes available to the server on the file system.
func (g *Guard) Free() (int64, error) {
	avail, _, err := g.statfs(g.dir)
	return avail, err
}

// Admit tells whether a new write of size bytes (-1 or 0 when unknown) may
// start. Under the threshold it returns an error matching syscall.ENOSPC,
// and the first refusal is logged; so is the first admission once space
// is back. A write that would by itself take the free space under the
// threshold is refused too, without that counting as running low.
//
// A write is admitted only once the reserve is back (made here, before the
// write, if it is missing and fits): a write let in while the reserve was
// gone could leave a disk that fills up afterwards with no reserve for the
// deletes that would free it.
func (g *Guard) Admit(size int64) error {
	avail, low, err := g.check(false)
	if err != nil {
		return nil // cannot tell: let the write try
	}
	if low {
		return fmt.Errorf("%w: %s free on the data directory's disk, under the minimum of %s (--min-free)", syscall.ENOSPC, human(avail), human(g.min))
	}
	if size > 0 && avail-size < g.min {
		return fmt.Errorf("%w: a write of %s does not fit in the %s free on the data directory's disk above the minimum of %s (--min-free)", syscall.ENOSPC, human(size), human(avail), human(g.min))
	}
	return nil
}

// check looks at the free space, logs a change of state and makes the
// reserve when it is missing and fits (in the background when async).
func (g *Guard) check(async bool) (avail int64, low bool, err error) {
	avail, _, err = g.statfs(g.dir)
	if err != nil {
		return 0, false, err
	}
	low = avail < g.min
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case low && !g.low:
		g.log.Warn("free disk space under the minimum: refusing new writes (507) until space is freed; reads and deletes go on",
			"dir", g.dir, "free", human(avail), "min_free", human(g.min))
	case !low && g.low:
		g.log.Info("free disk space back over the minimum: accepting writes again",
			"dir", g.dir, "free", human(avail), "min_free", human(g.min))
	}
	g.low = low
	if !low && !g.making && avail-g.size >= g.min && !g.hasReserve() {
		g.making = true
		if async {
			go g.makeReserve()
		} else {
			g.mu.Unlock()
			g.makeReserve()
			g.mu.Lock()
			if a, _, err := g.statfs(g.dir); err == nil {
				avail, low = a, a < g.min // what is left beside the reserve
			}
		}
	}
	return avail, low, nil
}

// hasReserve reports whether the reserve file is there at full size. It
// trusts what it saw last; Watch makes it look again.
func (g *Guard) hasReserve() bool {
	if !g.have {
		fi, err := os.Stat(g.reserve)
		g.have = err == nil && fi.Size() >= g.size
	}
	return g.have
}

// makeReserve makes the reserve file: allocated, synced, then renamed
// into place, so that a reserve file is always whole.
func (g *Guard) makeReserve() {
	defer func() {
		g.mu.Lock()
		g.making = false
		g.mu.Unlock()
	}()
	tmp := g.reserve + ".tmp"
	err := allocate(tmp, g.size)
	if err == nil {
		err = os.Rename(tmp, g.reserve)
	}
	if err != nil {
		os.Remove(tmp)
		g.log.Warn("could not make the disk-space reserve", "path", g.reserve, "bytes", g.size, "err", err)
		return
	}
	g.mu.Lock()
	g.have = true
	g.mu.Unlock()
	g.log.Debug("made the disk-space reserve", "path", g.reserve, "bytes", g.size)
}

// allocate creates path with size bytes of disk space allocated to it.
func allocate(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		err = writeZeros(f, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func writeZeros(f *os.File, size int64) error {
	buf := make([]byte, 1<<20)
	for size > 0 {
		n := min(size, int64(len(buf)))
		if _, err := f.Write(buf[:n]); err != nil {
			return err
		}
		size -= n
	}
	return nil
}

// Short reports whether the free space is under the threshold or under the
// reserve's size: so little that an operation may have failed for want of
// space, and releasing the reserve may let it through. When the free space
// cannot be read it says yes, so that a full disk still gets its reserve.
func (g *Guard) Short() bool {
	avail, _, err := g.statfs(g.dir)
	return err != nil || avail < max(g.min, g.size)
}

// Release deletes the reserve file, so that a change that frees space
// (a delete, an abort) can commit on a full disk, and reports whether
// there was one to delete. The reserve is made again once space is back.
func (g *Guard) Release() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.have = false
	fi, err := os.Stat(g.reserve)
	if err != nil {
		return false
	}
	if err := os.Remove(g.reserve); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			g.log.Error("could not release the disk-space reserve", "path", g.reserve, "err", err)
		}
		return false
	}
	g.log.Warn("disk full: released the disk-space reserve so that deletes can free space", "path", g.reserve, "bytes", fi.Size())
	return true
}

// Watch looks at the free space every few seconds until ctx ends, so the
// crossings of the threshold are logged, and the reserve made again, even
// while no write comes.
func (g *Guard) Watch(ctx context.Context) {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.mu.Lock()
			g.have = false // look at the file again
			g.mu.Unlock()
			g.check(false)
		}
	}
}

// statfs returns the bytes available to unprivileged users and the size
// of dir's file system.
func statfs(dir string) (avail, total int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("free space of %s: %w", dir, err)
	}
	return int64(st.Bavail) * st.Bsize, int64(st.Blocks) * st.Bsize, nil
}

// human formats a byte count for logs and messages.
func human(n int64) string {
	const unit = 1 << 10
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
