package spool

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"testing/iotest"
)

func random(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed)})
	r.Read(b)
	return b
}

func TestSpool(t *testing.T) {
	tests := []struct {
		name           string
		size, memLimit int
		blockSize      int64
		writes         int // number of Write calls
		wantMem        bool
		wantBlocks     int
	}{
		{"empty", 0, 16, 0, 1, true, 0},
		{"in memory", 100, 100, 0, 3, true, 0},
		{"spilled", 101, 100, 0, 3, false, 0},
		{"spilled at once", 5000, 0, 0, 1, false, 0},
		{"blocks exact", 4096, 1000, 1024, 7, false, 4},
		{"blocks with tail", 5000, 1 << 20, 1024, 13, true, 5},
		{"one short block", 10, 1 << 20, 1024, 2, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := random(tt.size, 1)
			w := NewWriter(t.TempDir(), tt.memLimit, tt.blockSize)
			step := max(1, (tt.size+tt.writes-1)/tt.writes)
			for off := 0; off < len(data); off += step {
				if _, err := w.Write(data[off:min(off+step, len(data))]); err != nil {
					t.Fatal(err)
				}
			}
			f, err := w.Finish()
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Size() != int64(tt.size) || f.SHA256() != sha256.Sum256(data) || f.InMemory() != tt.wantMem {
				t.Fatalf("size %d sha %x mem %v; want %d %x %v", f.Size(), f.SHA256(), f.InMemory(), tt.size, sha256.Sum256(data), tt.wantMem)
			}
			if err := iotest.TestReader(f.Section(0, f.Size()), data); err != nil {
				t.Error(err)
			}
			if len(f.blocks) != tt.wantBlocks {
				t.Errorf("%d blocks, want %d", len(f.blocks), tt.wantBlocks)
			}
			for off := int64(0); tt.blockSize > 0 && off < f.Size(); off += tt.blockSize {
				n := min(tt.blockSize, f.Size()-off)
				sum, ok := f.SectionSHA256(off, n)
				if !ok || sum != sha256.Sum256(data[off:off+n]) {
					t.Errorf("SectionSHA256(%d, %d) = %x, %v", off, n, sum, ok)
				}
				if err := iotest.TestReader(f.Section(off, n), data[off:off+n]); err != nil {
					t.Errorf("section %d: %v", off, err)
				}
			}
			if _, ok := f.SectionSHA256(1, 10); ok && tt.size != 11 {
				t.Error("SectionSHA256 of an unaligned section: ok")
			}
		})
	}
}

// TestConcurrentSections reads every section of a spilled stream at once.
func TestConcurrentSections(t *testing.T) {
	data := random(1<<20, 2)
	w := NewWriter(t.TempDir(), 1024, 64<<10)
	if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	f, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var wg sync.WaitGroup
	for off := int64(0); off < f.Size(); off += 64 << 10 {
		wg.Go(func() {
			got, err := io.ReadAll(f.Section(off, 64<<10))
			if err != nil || !bytes.Equal(got, data[off:off+64<<10]) {
				t.Errorf("section %d: %v", off, err)
			}
		})
	}
	wg.Wait()
}

// TestNoLeftovers checks that the spilled file is never visible in the
// directory: it is unlinked as soon as it is created.
func TestNoLeftovers(t *testing.T) {
	dir := t.TempDir()
	w := NewWriter(dir, 0, 0)
	if _, err := w.Write(random(100, 3)); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("spool directory holds %v", entries)
	}
	w.Abort()
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Abort: no error")
	}
}

func TestFromBytes(t *testing.T) {
	f := FromBytes([]byte("StoreDir: /nix/store\n"))
	if sum, ok := f.SectionSHA256(0, f.Size()); !ok || sum != sha256.Sum256([]byte("StoreDir: /nix/store\n")) {
		t.Errorf("SectionSHA256 of the whole: %x %v", sum, ok)
	}
	if err := iotest.TestReader(f.Section(0, f.Size()), []byte("StoreDir: /nix/store\n")); err != nil {
		t.Error(err)
	}
}

// TestReader reads the whole stream twice through Readers, in memory and
// spilled, with a Section read in between; closing a Reader leaves the
// File usable.
func TestReader(t *testing.T) {
	data := random(100000, 4)
	for _, memLimit := range []int{1 << 20, 1000} {
		w := NewWriter(t.TempDir(), memLimit, 0)
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		f, err := w.Finish()
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			r := f.Reader()
			if err := iotest.TestReader(r, data); err != nil {
				t.Errorf("memLimit %d: %v", memLimit, err)
			}
			if _, err := io.ReadAll(f.Section(10, 100)); err != nil {
				t.Fatal(err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
	}
}

// TestChunkGrowth checks that a stream in memory without a Budget grows
// its chunks by doubling, even within one large Write, and never past
// memLimit.
func TestChunkGrowth(t *testing.T) {
	w := NewWriter("", 3<<20, 0)
	if _, err := w.Write(random(3<<20, 5)); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, c := range w.mem.list {
		sizes = append(sizes, cap(c))
	}
	// 4K, 4K, 8K, … 512K (1 MiB in all), then two of 1 MiB.
	if len(sizes) != 11 || sizes[0] != 4<<10 || sizes[len(sizes)-1] != 1<<20 || w.mem.size != 3<<20 {
		t.Errorf("chunk sizes %v for %d bytes", sizes, w.mem.size)
	}
	f, err := w.Finish()
	if err != nil || !f.InMemory() {
		t.Fatalf("Finish: %v, in memory %v", err, f.InMemory())
	}
	if got, _ := io.ReadAll(f.Section(0, f.Size())); !bytes.Equal(got, random(3<<20, 5)) {
		t.Error("contents differ")
	}
}
