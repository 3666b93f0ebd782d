package localfs

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// bodyReader imitates a request body arriving from the network: each Read
// returns at most 64 KiB, and it offers no WriteTo, so io.Copy has to
// choose between the destination's ReadFrom and its own 32 KiB buffer.
type bodyReader struct {
	data []byte
	off  int
}

func (r *bodyReader) Read(p []byte) (int, error) {
	if r.off == len(r.data) {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 64<<10)], r.data[r.off:])
	r.off += n
	return n, nil
}

type writeOnly struct{ io.Writer }

// plainPut is the peer the benchmarks compare against: the same durable
// sequence with an unbuffered *os.File and io.Copy's defaults.
func plainPut(dir string, src io.Reader) error {
	f, err := os.CreateTemp(dir, "plain")
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, src); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	final := f.Name() + ".done"
	if err := os.Rename(f.Name(), final); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	return os.Remove(final)
}

// BenchmarkWrite64MiB writes and commits a 64 MiB blob from a network-like
// reader: through ReadFrom, through Write with io.Copy's 32 KiB buffer,
// and with a plain *os.File as the peer.
func BenchmarkWrite64MiB(b *testing.B) {
	const size = 64 << 20
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	be, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	put := func(b *testing.B, wrap func(io.Writer) io.Writer) {
		b.SetBytes(size)
		for b.Loop() {
			w, err := be.Create(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(wrap(w), &bodyReader{data: data}); err != nil {
				b.Fatal(err)
			}
			id, err := w.Commit(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			if err := be.Delete(b.Context(), id); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("ReadFrom", func(b *testing.B) { put(b, func(w io.Writer) io.Writer { return w }) })
	b.Run("Write", func(b *testing.B) { put(b, func(w io.Writer) io.Writer { return writeOnly{w} }) })
	b.Run("os.File", func(b *testing.B) {
		b.SetBytes(size)
		dir := b.TempDir()
		for b.Loop() {
			if err := plainPut(dir, &bodyReader{data: data}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCommit4KiB commits 4 KiB blobs from 16 goroutines, as the
// server's small-PUT benchmark does, against a peer doing the same
// durable sequence into a single flat directory. Blobs accumulate, as in
// a real store, so fan-out directories get created along the way.
func BenchmarkCommit4KiB(b *testing.B) {
	data := make([]byte, 4096)
	parallel := func(b *testing.B, put func() error) {
		b.SetBytes(int64(len(data)))
		b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0)))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := put(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("localfs", func(b *testing.B) {
		be, err := Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		defer be.Close()
		parallel(b, func() error {
			w, err := be.Create(b.Context())
			if err != nil {
				return err
			}
			w.Write(data)
			_, err = w.Commit(b.Context())
			return err
		})
	})
	b.Run("os.File", func(b *testing.B) {
		tmp, final := b.TempDir(), b.TempDir()
		parallel(b, func() error {
			f, err := os.CreateTemp(tmp, "plain")
			if err != nil {
				return err
			}
			f.Write(data)
			if err := f.Sync(); err != nil {
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if err := os.Rename(f.Name(), filepath.Join(final, filepath.Base(f.Name()))); err != nil {
				return err
			}
			return syncDir(final)
		})
	})
}

// BenchmarkCommit1MiB writes and commits 1 MiB blobs one at a time, in
// spare files when ready and through tmp/ otherwise.
func BenchmarkCommit1MiB(b *testing.B) {
	bk, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer bk.Close()
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		w, err := bk.Create(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		w.Write(buf)
		if _, err := w.Commit(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}
