package spool

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"sync"
)

// File is a finished stream.
type File struct {
	f         *os.File // nil when in memory
	size      int64
	sum       [sha256.Size]byte
	blockSize int64
	blocks    [][sha256.Size]byte

	mu     sync.RWMutex // guards mem, closed and readers
	mem    chunks
	budget *Budget // where mem's chunks go back to; nil for none
	closed bool
	// readers counts the open Readers of a stream in memory: its chunks go
	// back to the budget once the File and all of them are closed.
	readers int
}

// FromBytes returns a File holding b, for small uploads (narinfos).
func FromBytes(b []byte) *File {
	f := &File{size: int64(len(b)), sum: sha256.Sum256(b)}
	if len(b) > 0 {
		f.mem = chunks{list: [][]byte{b}, offs: []int64{0}, size: int64(len(b))}
	}
	return f
}

// Size returns the length of the stream.
func (f *File) Size() int64 { return f.size }

// SHA256 returns the SHA-256 of the whole stream.
func (f *File) SHA256() [sha256.Size]byte { return f.sum }

// BlockSize returns the size of the blocks whose hashes were recorded, or
// 0.
func (f *File) BlockSize() int64 { return f.blockSize }

// InMemory reports whether the stream never spilled to disk.
func (f *File) InMemory() bool { return f.f == nil }

// ReadAt implements io.ReaderAt. After Close it fails with os.ErrClosed.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if f.f != nil {
		return f.f.ReadAt(p, off)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return 0, fmt.Errorf("spool: read: %w", os.ErrClosed)
	}
	if off < 0 {
		return 0, fmt.Errorf("spool: read at negative offset %d", off)
	}
	if off >= f.size {
		return 0, io.EOF
	}
	n := f.mem.readAt(p, off)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Section returns a reader of n bytes from off. Sections may be read
// concurrently.
func (f *File) Section(off, n int64) *io.SectionReader {
	return io.NewSectionReader(f, off, n)
}

// Reader returns a new reader of the whole stream, which the caller must
// close. For a spilled stream it is the temporary file opened afresh (with
// an offset of its own), so that net/http can send it with sendfile(2)
// instead of copying it through user space; where that is impossible
// (no /proc), it reads a Section. For a stream in memory it can also
// write itself out in whole chunks (WriteTo); the stream's memory stays
// valid until the Reader is closed, even after the File is (net/http may
// finish with a request body after the request).
func (f *File) Reader() io.ReadCloser {
	if f.f != nil {
		if r, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", f.f.Fd())); err == nil {
			return r
		}
		return io.NopCloser(f.Section(0, f.size))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return io.NopCloser(errReader{fmt.Errorf("spool: read: %w", os.ErrClosed)})
	}
	f.readers++
	return &memReader{f: f, mem: f.mem}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// memReader reads a stream in memory.
type memReader struct {
	f      *File
	mem    chunks
	off    int64
	closed bool
}

func (r *memReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, fmt.Errorf("spool: read: %w", os.ErrClosed)
	}
	if r.off >= r.mem.size {
		return 0, io.EOF
	}
	n := r.mem.readAt(p, r.off)
	r.off += int64(n)
	return n, nil
}

// Len returns the number of bytes not read yet.
func (r *memReader) Len() int { return int(r.mem.size - r.off) }

// WriteTo writes the rest of the stream to w, a chunk at a time, without
// copying it.
func (r *memReader) WriteTo(w io.Writer) (int64, error) {
	if r.closed {
		return 0, fmt.Errorf("spool: read: %w", os.ErrClosed)
	}
	var total int64
	for r.off < r.mem.size {
		i := r.mem.index(r.off)
		c := r.mem.list[i][r.off-r.mem.offs[i]:]
		n, err := w.Write(c)
		r.off += int64(n)
		total += int64(n)
		if err != nil {
			return total, err
		}
		if n < len(c) {
			return total, io.ErrShortWrite
		}
	}
	return total, nil
}

// Close releases the reader; the last one of a closed File gives the
// stream's memory back.
func (r *memReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	r.f.readers--
	r.f.release()
	return nil
}

// SectionSHA256 returns the SHA-256 of the section [off, off+n) if it is a
// block the Writer recorded (or the whole stream), and false otherwise.
func (f *File) SectionSHA256(off, n int64) ([sha256.Size]byte, bool) {
	if off == 0 && n == f.size {
		return f.sum, true
	}
	if f.blockSize <= 0 || off%f.blockSize != 0 {
		return [sha256.Size]byte{}, false
	}
	i := off / f.blockSize
	if i >= int64(len(f.blocks)) || n != min(f.blockSize, f.size-off) {
		return [sha256.Size]byte{}, false
	}
	return f.blocks[i], true
}

// Close releases the stream's temporary file, or its memory (to its
// Budget) once no Reader of it is open. Sections fail after Close.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if f.f != nil {
		return f.f.Close()
	}
	f.release()
	return nil
}

// release gives the stream's memory back once the File and its Readers
// are all closed. f.mu is held.
func (f *File) release() {
	if !f.closed || f.readers > 0 || f.mem.list == nil {
		return
	}
	if f.budget != nil {
		f.budget.give(f.mem.list)
	}
	f.mem = chunks{}
}
