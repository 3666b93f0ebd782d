// Package spool holds a stream whose length and hash must be known before
// it can be sent: push compresses a NAR without knowing the size or the
// SHA-256 of the result, which name the file in the cache (nar/<FileHash>)
// and which an S3 PUT needs up front. Small streams stay in memory; larger
// ones spill to an unlinked temporary file, so memory use stays bounded
// and a killed process leaves nothing behind. The result can be read any
// number of times, in sections, concurrently (multipart parts, retries).
package spool

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
)

// Writer collects a stream. It is not safe for concurrent use.
type Writer struct {
	dir      string
	memLimit int
	mem      []byte
	f        *os.File
	size     int64
	whole    hash.Hash

	blockSize int64
	block     hash.Hash
	blockFill int64
	blocks    [][sha256.Size]byte
	err       error
}

// NewWriter returns a Writer that keeps up to memLimit bytes in memory and
// spills the stream to a temporary file in dir (os.TempDir() when "") once
// it grows past that. When blockSize is positive it also records the
// SHA-256 of every blockSize bytes, so that multipart uploads can sign
// their parts without reading them twice.
func NewWriter(dir string, memLimit int, blockSize int64) *Writer {
	w := &Writer{dir: dir, memLimit: memLimit, whole: sha256.New(), blockSize: blockSize}
	if blockSize > 0 {
		w.block = sha256.New()
	}
	return w
}

// Write appends p to the stream.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.f == nil && len(w.mem)+len(p) > w.memLimit {
		if err := w.spill(); err != nil {
			w.err = err
			return 0, err
		}
	}
	if w.f != nil {
		if n, err := w.f.Write(p); err != nil {
			w.err = fmt.Errorf("spool: %w", err)
			w.hash(p[:n])
			return n, w.err
		}
	} else {
		w.mem = append(w.mem, p...)
	}
	w.hash(p)
	return len(p), nil
}

func (w *Writer) hash(p []byte) {
	w.whole.Write(p)
	w.size += int64(len(p))
	for w.block != nil && len(p) > 0 {
		n := min(int64(len(p)), w.blockSize-w.blockFill)
		w.block.Write(p[:n])
		w.blockFill += n
		p = p[n:]
		if w.blockFill == w.blockSize {
			w.endBlock()
		}
	}
}

func (w *Writer) endBlock() {
	var sum [sha256.Size]byte
	w.block.Sum(sum[:0])
	w.blocks = append(w.blocks, sum)
	w.block.Reset()
	w.blockFill = 0
}

// spill moves the stream to an unlinked temporary file.
func (w *Writer) spill() error {
	f, err := os.CreateTemp(w.dir, "nixbucket-push-*")
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	// Unlinked at once: the space is freed when the file is closed, even
	// if the process is killed.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return fmt.Errorf("spool: %w", err)
	}
	if _, err := f.Write(w.mem); err != nil {
		f.Close()
		return fmt.Errorf("spool: %w", err)
	}
	w.f, w.mem = f, nil
	return nil
}

// Finish ends the stream and returns it for reading. The Writer must not
// be used afterwards.
func (w *Writer) Finish() (*File, error) {
	if w.err != nil {
		w.Abort()
		return nil, w.err
	}
	if w.block != nil && w.blockFill > 0 {
		w.endBlock()
	}
	f := &File{f: w.f, size: w.size, blockSize: w.blockSize, blocks: w.blocks}
	w.whole.Sum(f.sum[:0])
	if w.f != nil {
		f.r = w.f
	} else {
		f.r = bytes.NewReader(w.mem)
	}
	w.f, w.mem, w.err = nil, nil, errors.New("spool: writer finished")
	return f, nil
}

// Abort discards the stream.
func (w *Writer) Abort() {
	if w.f != nil {
		w.f.Close()
	}
	w.f, w.mem = nil, nil
	if w.err == nil {
		w.err = errors.New("spool: writer aborted")
	}
}

// File is a finished stream.
type File struct {
	r         io.ReaderAt
	f         *os.File // nil when in memory
	size      int64
	sum       [sha256.Size]byte
	blockSize int64
	blocks    [][sha256.Size]byte
}

// FromBytes returns a File holding b, for small uploads (narinfos).
func FromBytes(b []byte) *File {
	return &File{r: bytes.NewReader(b), size: int64(len(b)), sum: sha256.Sum256(b)}
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

// Section returns a reader of n bytes from off. Sections may be read
// concurrently.
func (f *File) Section(off, n int64) *io.SectionReader {
	return io.NewSectionReader(f.r, off, n)
}

// Reader returns a new reader of the whole stream, which the caller must
// close. For a spilled stream it is the temporary file opened afresh (with
// an offset of its own), so that net/http can send it with sendfile(2)
// instead of copying it through user space; where that is impossible
// (no /proc), and for a stream in memory, it reads a Section.
func (f *File) Reader() io.ReadCloser {
	if f.f != nil {
		if r, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", f.f.Fd())); err == nil {
			return r
		}
	}
	return io.NopCloser(f.Section(0, f.size))
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

// Close releases the stream's memory or temporary file.
func (f *File) Close() error {
	f.r = bytes.NewReader(nil)
	if f.f != nil {
		err := f.f.Close()
		f.f = nil
		return err
	}
	return nil
}
