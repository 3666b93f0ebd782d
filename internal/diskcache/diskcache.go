// Package diskcache keeps finished files (NARs of `nixbucket proxy`, blobs
// of an S3 blob store kept on a server's disk: internal/storage/blobcache)
// in a directory bounded by a total size, evicting the least recently used.
//
// The directory holds two subdirectories: the entries (nar/ for the proxy,
// named by Options.Entries), one file per NAR or blob, named by the
// caller (a NAR URL's last element, a blob ID); and tmp/, where fetches in
// flight write. A file reaches nar/ only by a rename of a complete, verified temp
// file, so a crash leaves whole entries and sweepable temps, and Open swept
// tmp/ at start. The order of use is kept in memory and rebuilt at start
// from the files' access times (Get sets a file's atime itself, so relatime
// and noatime mounts keep the order too). An entry whose file no longer
// has the size it was committed with (truncated behind the cache's back)
// is dropped by Get rather than served.
//
// The bound counts the entries and the reservations of fetches in flight:
// a fetch reserves its FileSize before it writes a byte, evicting what it
// must, so the directory never holds more than the bound. Eviction never
// removes an entry a reader has open: such an entry is skipped, and a
// reservation that cannot be met that way is refused (the fetch then
// streams through a temp file elsewhere and is not kept).
package diskcache

import (
	"container/list"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Cache is a size-bounded directory of NAR files. Its methods are safe for
// concurrent use.
type Cache struct {
	dir, nars, tmp string
	max            int64
	log            *slog.Logger
	what           string // what the entries are, for the log

	mu       sync.Mutex
	entries  map[string]*entry
	lru      list.List // of *entry, most recently used at the front
	size     int64     // bytes of the entries
	reserved int64     // bytes reserved by fetches in flight
	stats    Stats     // counters since Open
}

// Stats are a cache's counters since it was opened, for metrics.
type Stats struct {
	Hits, Misses    uint64 // Get found the file, or not
	Commits         uint64 // entries committed (Reservation.Commit)
	Evictions       uint64 // entries evicted to make room
	EvictedBytes    uint64 // their bytes
	Entries         int    // files now kept
	Bytes, Reserved int64  // their bytes, and bytes reserved by fetches in flight
}

// Stats returns the cache's counters and its present size.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stats
	st.Entries, st.Bytes, st.Reserved = len(c.entries), c.size, c.reserved
	return st
}

type entry struct {
	name string
	size int64
	refs int // readers holding the file open
	elem *list.Element
}

// ErrNoRoom is returned by Reserve when the bound cannot be met without
// evicting files that readers hold open, or when the file is larger than
// the whole bound.
var ErrNoRoom = errors.New("diskcache: no room under the size bound")

// Open opens (creating it) the cache of NARs in dir with a bound of max
// bytes, removes the temp files a crash may have left, and evicts down to
// max (which may have shrunk since the last run).
func Open(dir string, max int64, log *slog.Logger) (*Cache, error) {
	return OpenWith(dir, max, log, Options{Entries: "nar", What: "proxy cache"})
}

// Options name a cache's entries.
type Options struct {
	// Entries is the subdirectory of the entries ("nar" for the proxy).
	Entries string
	// What names the cache in log lines ("proxy cache", "blob cache").
	What string
}

// OpenWith is Open with the entries in the subdirectory o.Entries.
func OpenWith(dir string, max int64, log *slog.Logger, o Options) (*Cache, error) {
	if max <= 0 {
		return nil, fmt.Errorf("diskcache %s: size bound %d: want more than 0", dir, max)
	}
	if o.Entries == "" || o.Entries == "tmp" || !ValidName(o.Entries) {
		return nil, fmt.Errorf("diskcache %s: bad entries directory %q", dir, o.Entries)
	}
	c := &Cache{dir: dir, nars: filepath.Join(dir, o.Entries), tmp: filepath.Join(dir, "tmp"), max: max, log: log, what: o.What, entries: map[string]*entry{}}
	if err := os.RemoveAll(c.tmp); err != nil {
		return nil, fmt.Errorf("diskcache: sweep temps: %w", err)
	}
	// The owner alone, as the data directory: a blob cache holds the
	// bytes of private buckets.
	for _, d := range []string{c.nars, c.tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("diskcache: %w", err)
		}
	}
	if err := c.load(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.evictLocked(0)
	c.mu.Unlock()
	return c, nil
}

// load rebuilds the order of use from the entries' access times (or
// modification times, when later: a file renamed in is "used" then).
func (c *Cache) load() error {
	des, err := os.ReadDir(c.nars)
	if err != nil {
		return fmt.Errorf("diskcache: %w", err)
	}
	type found struct {
		name string
		size int64
		used time.Time
	}
	var all []found
	for _, de := range des {
		if !de.Type().IsRegular() || !ValidName(de.Name()) {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		used := fi.ModTime()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			if at := time.Unix(st.Atim.Sec, st.Atim.Nsec); at.After(used) {
				used = at
			}
		}
		all = append(all, found{de.Name(), fi.Size(), used})
	}
	slices.SortFunc(all, func(a, b found) int { return a.used.Compare(b.used) })
	for _, f := range all { // oldest first, each pushed to the front
		e := &entry{name: f.name, size: f.size}
		e.elem = c.lru.PushFront(e)
		c.entries[f.name] = e
		c.size += f.size
	}
	return nil
}

// ValidName reports whether name may be an entry: a NAR URL's last element
// (nix32 file hash and extension), never a path.
func ValidName(name string) bool {
	if name == "" || len(name) > 200 || name[0] == '.' {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}

// TempDir is where fetches write the NARs they mean to commit here.
func (c *Cache) TempDir() string { return c.tmp }

// Max is the size bound in bytes.
func (c *Cache) Max() int64 { return c.max }

// Size is the bytes of the entries and of the reservations in flight.
func (c *Cache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size + c.reserved
}

// File is an entry held open by a reader: it is not evicted until Close.
type File struct {
	*os.File
	c    *Cache
	e    *entry
	once sync.Once
}

// Size is the entry's size, as committed (and checked by Get).
func (f *File) Size() int64 { return f.e.size }

// Close closes the file and lets the entry be evicted again.
func (f *File) Close() error {
	err := f.File.Close()
	f.once.Do(func() {
		f.c.mu.Lock()
		f.e.refs--
		f.c.mu.Unlock()
	})
	return err
}

// Get opens the entry name, marking it the most recently used; ok is false
// when there is none. It counts a hit or a miss.
func (c *Cache) Get(name string) (f *File, ok bool, err error) {
	f, ok, err = c.Lookup(name)
	if err == nil {
		c.Count(ok)
	}
	return f, ok, err
}

// Count counts a hit (or a miss) of a lookup made with Lookup, for a
// caller that decides itself which lookups count (the blob cache counts
// no miss of a blob too small to keep).
func (c *Cache) Count(hit bool) {
	c.mu.Lock()
	if hit {
		c.stats.Hits++
	} else {
		c.stats.Misses++
	}
	c.mu.Unlock()
}

// Lookup is Get without counting. An entry whose file is gone, or no
// longer has the size it was committed with, is forgotten (and its file
// removed) and reported missing: a truncated file is never served.
func (c *Cache) Lookup(name string) (f *File, ok bool, err error) {
	if !ValidName(name) {
		return nil, false, nil
	}
	c.mu.Lock()
	e := c.entries[name]
	if e == nil {
		c.mu.Unlock()
		return nil, false, nil
	}
	e.refs++
	c.lru.MoveToFront(e.elem)
	c.mu.Unlock()
	path := filepath.Join(c.nars, name)
	osf, err := os.Open(path)
	var fi os.FileInfo
	if err == nil {
		if fi, err = osf.Stat(); err != nil {
			osf.Close()
		}
	}
	if err != nil {
		c.mu.Lock()
		e.refs--
		if errors.Is(err, fs.ErrNotExist) { // removed behind our back: forget it
			c.dropLocked(e)
			err = nil
		}
		c.mu.Unlock()
		return nil, false, err
	}
	if fi.Size() != e.size {
		osf.Close()
		c.log.Warn(c.what+": dropping an entry whose file changed size", "file", name, "bytes", fi.Size(), "committed", e.size)
		c.mu.Lock()
		e.refs--
		if c.entries[name] == e {
			_ = os.Remove(path)
			c.dropLocked(e)
		}
		c.mu.Unlock()
		return nil, false, nil
	}
	// The order of use survives a restart through the atime.
	_ = os.Chtimes(path, time.Now(), time.Time{})
	return &File{File: osf, c: c, e: e}, true, nil
}

// Remove removes the entry name, if there is one, even while readers
// hold it open (they read on from the unlinked file). It is for entries
// whose source is gone: a deleted blob.
func (c *Cache) Remove(name string) error {
	if !ValidName(name) {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[name]
	if e == nil {
		return nil
	}
	c.dropLocked(e)
	if err := os.Remove(filepath.Join(c.nars, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: remove %s: %w", c.what, name, err)
	}
	return nil
}

// Reservation is room set aside for one fetch in flight.
type Reservation struct {
	c    *Cache
	name string
	size int64
	done bool
}

// Reserve sets size bytes aside for a fetch of name, evicting the least
// recently used entries not held open as needed. It returns ErrNoRoom when
// that is not enough.
func (c *Cache) Reserve(name string, size int64) (*Reservation, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("diskcache: bad entry name %q", name)
	}
	if size < 0 || size > c.max {
		return nil, ErrNoRoom
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.evictLocked(size) {
		return nil, ErrNoRoom
	}
	c.reserved += size
	return &Reservation{c: c, name: name, size: size}, nil
}

// Commit moves the finished temp file (written in TempDir, of the reserved
// size) into the cache as the reservation's entry, durably, and ends the
// reservation. It returns the entry open, held against eviction until
// closed: the readers of the download that made it are still reading its
// bytes.
func (r *Reservation) Commit(tmpPath string) (*File, error) {
	if r.done {
		return nil, errors.New("diskcache: reservation already ended")
	}
	c := r.c
	fi, err := os.Stat(tmpPath)
	if err != nil {
		r.Cancel()
		return nil, fmt.Errorf("diskcache: commit %s: %w", r.name, err)
	}
	if fi.Size() != r.size {
		r.Cancel()
		return nil, fmt.Errorf("diskcache: commit %s: %d bytes, reserved %d", r.name, fi.Size(), r.size)
	}
	f, renamed, err := r.commit(tmpPath)
	if renamed {
		// The directory's fsync makes the rename durable. It runs after
		// the lock is released: it can take milliseconds, and every hit
		// takes the lock. A hit served before it is still whole: the
		// file's data was synced before the rename.
		syncDir(c.nars)
	}
	return f, err
}

// syncDir fsyncs directory dir, best effort (a variable for a test that
// holds it).
var syncDir = func(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// commit is Commit's part under the lock; renamed reports whether
// tmpPath was renamed into the cache (and its directory needs a sync).
func (r *Reservation) commit(tmpPath string) (_ *File, renamed bool, _ error) {
	c := r.c
	dst := filepath.Join(c.nars, r.name)
	c.mu.Lock()
	defer c.mu.Unlock()
	r.done = true
	c.reserved -= r.size
	e := c.entries[r.name]
	if e != nil {
		// The same name is the same file hash: the entry we have is as good.
		if err := os.Remove(tmpPath); err != nil {
			return nil, false, fmt.Errorf("diskcache: commit %s: %w", r.name, err)
		}
	} else {
		if err := os.Rename(tmpPath, dst); err != nil {
			return nil, false, fmt.Errorf("diskcache: commit %s: %w", r.name, err)
		}
		renamed = true
		e = &entry{name: r.name, size: r.size}
		e.elem = c.lru.PushFront(e)
		c.entries[r.name] = e
		c.size += r.size
		c.stats.Commits++
	}
	f, err := os.Open(dst)
	if err != nil {
		return nil, renamed, fmt.Errorf("diskcache: commit %s: %w", r.name, err)
	}
	e.refs++
	return &File{File: f, c: c, e: e}, renamed, nil
}

// Cancel gives the reserved room back (a failed or cut fetch). Calling it
// after Commit does nothing.
func (r *Reservation) Cancel() {
	if r.done {
		return
	}
	r.done = true
	r.c.mu.Lock()
	r.c.reserved -= r.size
	r.c.mu.Unlock()
}

// evictLocked evicts least recently used entries that no reader holds
// until need more bytes fit under the bound, and reports whether they do.
func (c *Cache) evictLocked(need int64) bool {
	for el := c.lru.Back(); el != nil && c.size+c.reserved+need > c.max; {
		e := el.Value.(*entry)
		prev := el.Prev()
		if e.refs == 0 {
			if err := os.Remove(filepath.Join(c.nars, e.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				c.log.Warn(c.what+": evict", "file", e.name, "err", err)
			} else {
				c.log.Debug(c.what+": evicted", "file", e.name, "bytes", e.size)
			}
			c.stats.Evictions++
			c.stats.EvictedBytes += uint64(e.size)
			c.dropLocked(e)
		}
		el = prev
	}
	return c.size+c.reserved+need <= c.max
}

func (c *Cache) dropLocked(e *entry) {
	if c.entries[e.name] != e {
		return
	}
	delete(c.entries, e.name)
	c.lru.Remove(e.elem)
	c.size -= e.size
}
