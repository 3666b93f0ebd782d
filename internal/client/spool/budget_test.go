package spool

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"testing"
	"testing/iotest"
)

// TestBudget writes streams through Writers that share a Budget, and checks
// which stay in memory, that their contents and hashes are right, and that
// every chunk returns to the Budget.
func TestBudget(t *testing.T) {
	tests := []struct {
		name     string
		budget   int64 // bytes
		memLimit int
		sizes    []int // streams, all open at once
		wantMem  []bool
	}{
		{"fits", 4 * chunkSize, 3 * chunkSize, []int{chunkSize + 5, 2 * chunkSize}, []bool{true, true}},
		{"over the stream's limit", 4 * chunkSize, chunkSize, []int{chunkSize + 1}, []bool{false}},
		{"budget spent mid-stream", 3 * chunkSize, 3 * chunkSize, []int{2 * chunkSize, 2*chunkSize + 7}, []bool{true, false}},
		{"budget spent before", 2 * chunkSize, 3 * chunkSize, []int{2 * chunkSize, 100, 0}, []bool{true, false, true}},
		{"no budget", 0, 3 * chunkSize, []int{1}, []bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBudget(tt.budget)
			dir := t.TempDir()
			var files []*File
			for i, size := range tt.sizes {
				data := random(size, uint64(i))
				w := b.NewWriter(dir, tt.memLimit, 0)
				// Odd-sized writes cross chunk boundaries.
				if _, err := io.CopyBuffer(w, iotest.OneByteReader(bytes.NewReader(data[:min(3, size)])), nil); err != nil {
					t.Fatal(err)
				}
				if _, err := io.CopyBuffer(struct{ io.Writer }{w}, bytes.NewReader(data[min(3, size):]), make([]byte, 100003)); err != nil {
					t.Fatal(err)
				}
				f, err := w.Finish()
				if err != nil {
					t.Fatal(err)
				}
				if f.InMemory() != tt.wantMem[i] || f.Size() != int64(size) || f.SHA256() != sha256.Sum256(data) {
					t.Errorf("stream %d: in memory %v, size %d; want %v, %d", i, f.InMemory(), f.Size(), tt.wantMem[i], size)
				}
				// (iotest.TestReader is slow on megabytes: it checks the
				// boundary sections below.)
				r := f.Reader()
				for name, r := range map[string]io.Reader{"Section": f.Section(0, f.Size()), "Reader": r} {
					if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
						t.Errorf("stream %d: %s: %d bytes, %v", i, name, len(got), err)
					}
				}
				r.Close()
				var out bytes.Buffer // WriteTo, as net/http's connection uses it
				r = f.Reader()
				if n, err := io.Copy(&out, r); err != nil || n != int64(size) || !bytes.Equal(out.Bytes(), data) {
					t.Errorf("stream %d: copying a Reader: %d bytes, %v", i, n, err)
				}
				r.Close()
				if err := iotest.TestReader(f.Section(0, min(f.Size(), 100)), data[:min(size, 100)]); err != nil {
					t.Errorf("stream %d: %v", i, err)
				}
				if size > chunkSize {
					off := int64(chunkSize - 10)
					n := min(20, int64(size)-off)
					if err := iotest.TestReader(f.Section(off, n), data[off:off+n]); err != nil {
						t.Errorf("stream %d: across chunks: %v", i, err)
					}
				}
				files = append(files, f)
			}
			for _, f := range files {
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if want := int(tt.budget / chunkSize); b.avail != want || len(b.free) > want {
				t.Errorf("after Close: %d chunks available, %d free; want %d", b.avail, len(b.free), want)
			}
		})
	}
}

// TestBudgetRecycles checks that a second stream reuses the first one's
// chunks instead of allocating.
func TestBudgetRecycles(t *testing.T) {
	b := NewBudget(2 * chunkSize)
	for i := range 3 {
		w := b.NewWriter("", 2*chunkSize, 0)
		if _, err := w.Write(random(chunkSize+1, uint64(i))); err != nil {
			t.Fatal(err)
		}
		f, err := w.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if !f.InMemory() {
			t.Fatalf("stream %d spilled", i)
		}
		f.Close()
	}
	if len(b.free) != 2 || b.avail != 2 {
		t.Errorf("%d free chunks, %d available; want 2, 2", len(b.free), b.avail)
	}
	allocs := testing.AllocsPerRun(10, func() {
		w := b.NewWriter("", 2*chunkSize, 0)
		w.Write(make([]byte, 2*chunkSize))
		f, _ := w.Finish()
		f.Close()
	})
	if allocs > 20 { // the Writer, its hashes and File, not 2 MiB of chunks
		t.Errorf("%v allocations per stream", allocs)
	}
}

// TestBudgetAbort checks that aborted and spilled streams give their
// memory back.
func TestBudgetAbort(t *testing.T) {
	b := NewBudget(2 * chunkSize)
	w := b.NewWriter(t.TempDir(), 2*chunkSize, 0)
	w.Write(random(chunkSize+1, 1))
	if b.avail != 0 {
		t.Fatalf("%d chunks available while a stream holds both", b.avail)
	}
	w.Abort()
	if b.avail != 2 {
		t.Errorf("after Abort: %d chunks available, want 2", b.avail)
	}
	w = b.NewWriter(t.TempDir(), 2*chunkSize, 0)
	w.Write(random(chunkSize, 1))
	w.Write(random(chunkSize+1, 2)) // over memLimit: spills
	if b.avail != 2 {
		t.Errorf("after spilling: %d chunks available, want 2", b.avail)
	}
	f, err := w.Finish()
	if err != nil || f.InMemory() {
		t.Fatalf("Finish: %v, in memory %v", err, f.InMemory())
	}
	f.Close()
}

// TestReadAfterClose checks that a File in memory cannot be read through
// a Section once closed, while a Reader taken before still reads it, and
// that its memory returns to the Budget only when both are closed (it may
// serve another stream then).
func TestReadAfterClose(t *testing.T) {
	b := NewBudget(chunkSize)
	w := b.NewWriter("", chunkSize, 0)
	w.Write([]byte("hello"))
	f, _ := w.Finish()
	r := f.Reader()
	f.Close()
	f.Close() // twice is fine
	if _, err := f.Section(0, 5).Read(make([]byte, 5)); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Section after Close: %v, want os.ErrClosed", err)
	}
	if _, err := f.Reader().Read(make([]byte, 5)); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Reader after Close: %v, want os.ErrClosed", err)
	}
	if b.avail != 0 {
		t.Errorf("the memory went back to the budget while a Reader is open")
	}
	if got, err := io.ReadAll(r); err != nil || string(got) != "hello" {
		t.Errorf("Reader opened before Close: %q, %v", got, err)
	}
	r.Close()
	r.Close()
	if b.avail != 1 {
		t.Errorf("after the last Reader's Close: %d chunks available, want 1", b.avail)
	}
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Read after the Reader's Close: %v, want os.ErrClosed", err)
	}
}
