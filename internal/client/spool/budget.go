package spool

import (
	"sort"
	"sync"
)

// chunkSize is the size of the pieces a stream in memory is kept in.
const chunkSize = 1 << 20

// Budget is memory shared by the streams of Writers made with its
// NewWriter: at most its limit, in chunks of 1 MiB that are recycled from
// one stream to the next, so that streams kept in memory neither grow nor
// churn the heap (allocating, faulting in and collecting fresh memory for
// every stream costs more than the temporary file it replaces). Its methods
// may be called concurrently.
type Budget struct {
	mu    sync.Mutex
	limit int      // chunks
	avail int      // chunks that may still be taken
	free  [][]byte // allocated chunks not in use
}

// NewBudget returns a Budget of limit bytes.
func NewBudget(limit int64) *Budget {
	n := int(limit / chunkSize)
	return &Budget{limit: n, avail: n}
}

// NewWriter returns a Writer (see the package's NewWriter) whose memory
// comes from b: the stream stays in memory up to memLimit bytes as long as
// b has chunks to spare, and spills to a temporary file in dir otherwise.
// The memory returns to b when the Writer is aborted or spills, or when
// the File it finished and the Readers taken from it are closed.
func (b *Budget) NewWriter(dir string, memLimit int, blockSize int64) *Writer {
	w := NewWriter(dir, memLimit, blockSize)
	w.budget = b
	return w
}

// InUse returns how much of b streams hold.
func (b *Budget) InUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return int64(b.limit-b.avail) * chunkSize
}

// take returns an empty chunk, or nil if b has none to spare.
func (b *Budget) take() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.avail == 0 {
		return nil
	}
	b.avail--
	if n := len(b.free); n > 0 {
		c := b.free[n-1]
		b.free = b.free[:n-1]
		return c[:0]
	}
	return make([]byte, 0, chunkSize)
}

// give takes back chunks.
func (b *Budget) give(list [][]byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.avail += len(list)
	b.free = append(b.free, list...)
}

// chunks is a stream in memory.
type chunks struct {
	list [][]byte // all full but the last
	offs []int64  // where each starts
	size int64
}

// append copies as much of p to the end as newChunk gives room for (all
// of it unless newChunk returns nil), and returns how much it copied.
func (c *chunks) append(p []byte, newChunk func() []byte) int {
	done := 0
	for done < len(p) {
		n := len(c.list)
		if n == 0 || len(c.list[n-1]) == cap(c.list[n-1]) {
			nc := newChunk()
			if nc == nil {
				break
			}
			c.list = append(c.list, nc)
			c.offs = append(c.offs, c.size)
			n++
		}
		last := c.list[n-1]
		k := copy(last[len(last):cap(last)], p[done:])
		c.list[n-1] = last[:len(last)+k]
		c.size += int64(k)
		done += k
	}
	return done
}

// index returns the chunk that holds offset off.
func (c *chunks) index(off int64) int {
	return sort.Search(len(c.offs), func(i int) bool { return c.offs[i] > off }) - 1
}

// readAt copies from off into p; it reads less only at the end.
func (c *chunks) readAt(p []byte, off int64) int {
	n := 0
	for i := c.index(off); i >= 0 && i < len(c.list) && n < len(p); i++ {
		n += copy(p[n:], c.list[i][off+int64(n)-c.offs[i]:])
	}
	return n
}
