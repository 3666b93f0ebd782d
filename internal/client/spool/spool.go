// Package spool holds a stream whose length and hash must be known before
// it can be sent: push compresses a NAR without knowing the size or the
// SHA-256 of the result, which name the file in the cache (nar/<FileHash>)
// and which an S3 PUT needs up front. Small streams stay in memory, in
// chunks that a Budget shared by all streams recycles; larger ones (and
// any stream the Budget has no room for) go to an unlinked temporary
// file, so memory use stays bounded and a killed process leaves nothing
// behind. The result can be read any number of times, in sections,
// concurrently (multipart parts, retries).
package spool

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"os"
)

// Writer collects a stream. It is not safe for concurrent use.
type Writer struct {
	dir      string
	memLimit int
	mem      chunks
	budget   *Budget // where mem's chunks come from; nil: allocated for this stream
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
	done := 0
	if w.f == nil && w.size+int64(len(p)) <= int64(w.memLimit) {
		done = w.mem.append(p, w.newChunk)
		w.hash(p[:done])
	}
	if done == len(p) {
		return done, nil
	}
	// Too large for memory, or the budget is spent.
	if w.f == nil {
		if err := w.spill(); err != nil {
			w.err = err
			return done, err
		}
	}
	n, err := w.f.Write(p[done:])
	w.hash(p[done : done+n])
	if err != nil {
		w.err = fmt.Errorf("spool: %w", err)
		return done + n, w.err
	}
	return len(p), nil
}

// newChunk returns an empty chunk for the stream in memory, which has room
// for at least one more byte below memLimit, or nil if the budget is
// spent.
func (w *Writer) newChunk() []byte {
	if w.budget != nil {
		return w.budget.take()
	}
	// Grow by doubling up to a full chunk: small streams (narinfos,
	// listings) stay small.
	n := min(chunkSize, max(4<<10, int(w.mem.size)), w.memLimit-int(w.mem.size))
	return make([]byte, 0, n)
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
	for _, c := range w.mem.list {
		if _, err := f.Write(c); err != nil {
			f.Close()
			return fmt.Errorf("spool: %w", err)
		}
	}
	w.f = f
	w.releaseMem()
	return nil
}

// releaseMem gives the memory of the stream back.
func (w *Writer) releaseMem() {
	if w.budget != nil {
		w.budget.give(w.mem.list)
	}
	w.mem = chunks{}
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
	if w.f == nil {
		f.mem, f.budget = w.mem, w.budget
	}
	w.f, w.mem, w.budget = nil, chunks{}, nil
	w.err = errors.New("spool: writer finished")
	return f, nil
}

// Abort discards the stream.
func (w *Writer) Abort() {
	if w.f != nil {
		w.f.Close()
	}
	w.f = nil
	w.releaseMem()
	w.budget = nil
	if w.err == nil {
		w.err = errors.New("spool: writer aborted")
	}
}
