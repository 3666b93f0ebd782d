package sqlite

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// The IAM generation.
//
// The server checks on every request that its cache of users, keys and
// policies is current, and the CLI changes them from another process while
// the server runs. A query per request would cost microseconds; instead
// every process that opens the database maps the same small file, the
// database's path with "-gen" appended, holding one 64-bit counter, and
// adds one to it after each committed identity change. Processes on one
// host share the file's page in memory (MAP_SHARED), so reading the
// counter is one atomic load, and another process's increment is seen at
// once. The file needs no durability: after a restart every cache starts
// empty.
//
// The counter advances after the commit, never before: a cache that reads
// the counter, then loads, can only tag the load with a generation older
// than what it read, so it reloads at the next change rather than keeping
// stale data.

// genSize is the size of the counter file: one native-endian uint64.
const genSize = 8

// genCounter is the mapped counter file of one Store.
type genCounter struct {
	n *uint64 // the mapped counter
}

// openGen maps the counter file next to the database at dbPath, creating
// it with the database's permissions and owner. The mapping is removed
// once the genCounter is unreachable, so that a Generation call racing
// Close reads valid memory.
func openGen(dbPath string) (*genCounter, error) {
	path := dbPath + "-gen"
	db, err := os.Stat(dbPath)
	if err != nil {
		return nil, fmt.Errorf("generation file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, db.Mode().Perm())
	if err != nil {
		return nil, fmt.Errorf("generation file: %w", err)
	}
	defer f.Close() // the mapping outlives the descriptor
	// As SQLite does for its -wal and -shm files: when run as root (say,
	// the CLI under sudo), leave the file to the database's owner, or the
	// server could not open it.
	if st, ok := db.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
			return nil, fmt.Errorf("generation file: %w", err)
		}
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("generation file: %w", err)
	}
	// Grow a new file; never shrink one, which another process may have
	// mapped (it would fault on the lost page). Two processes growing it at
	// once is harmless: extending to the same size writes no data.
	if fi.Size() < genSize {
		if err := f.Truncate(genSize); err != nil {
			return nil, fmt.Errorf("generation file: %w", err)
		}
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, genSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("generation file %s: map: %w", path, err)
	}
	g := &genCounter{n: (*uint64)(unsafe.Pointer(&mem[0]))} // page-aligned
	runtime.AddCleanup(g, func(mem []byte) { syscall.Munmap(mem) }, mem)
	return g, nil
}

// load returns the counter.
func (g *genCounter) load() uint64 {
	n := atomic.LoadUint64(g.n)
	runtime.KeepAlive(g) // the mapping lives as long as g
	return n
}

// bump advances the counter.
func (g *genCounter) bump() {
	atomic.AddUint64(g.n, 1)
	runtime.KeepAlive(g)
}
