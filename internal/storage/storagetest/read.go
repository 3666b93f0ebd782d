package storagetest

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/nixbucket/nixbucket/internal/storage"
)

// writeOnly hides every method but Write, so io.Copy cannot use ReadFrom.
type writeOnly struct{ io.Writer }

// readOnly hides every method but Read, so io.Copy cannot use WriteTo.
type readOnly struct{ io.Reader }

// writeMethods are the ways a caller may feed bytes to a Writer.
var writeMethods = []struct {
	name  string
	write func(w io.Writer, data []byte) (int64, error)
}{
	{"Write", func(w io.Writer, data []byte) (int64, error) {
		n, err := w.Write(data)
		return int64(n), err
	}},
	{"SmallWrites", func(w io.Writer, data []byte) (int64, error) {
		var total int64
		for i := 1; len(data) > 0; i++ {
			c := min(len(data), i*37%1021+1)
			n, err := w.Write(data[:c])
			total += int64(n)
			if err != nil {
				return total, err
			}
			data = data[c:]
		}
		return total, nil
	}},
	{"CopyHalfReader", func(w io.Writer, data []byte) (int64, error) {
		return io.Copy(w, iotest.HalfReader(bytes.NewReader(data)))
	}},
	{"CopyOneByteReader", func(w io.Writer, data []byte) (int64, error) {
		return io.Copy(w, iotest.OneByteReader(bytes.NewReader(data)))
	}},
	{"CopyDataErrReader", func(w io.Writer, data []byte) (int64, error) {
		return io.Copy(w, iotest.DataErrReader(bytes.NewReader(data)))
	}},
	{"CopyWriteOnly", func(w io.Writer, data []byte) (int64, error) {
		return io.Copy(writeOnly{w}, readOnly{bytes.NewReader(data)})
	}},
}

// testRoundTrip writes blobs of sizes around common buffer boundaries in
// every write style and reads them back.
func testRoundTrip(t *testing.T, be storage.Backend) {
	sizes := []int{0, 1, 4096, 32<<10 + 1, 256 << 10, 1 << 20, 1<<20 + 3}
	for mi, m := range writeMethods {
		for _, size := range sizes {
			t.Run(fmt.Sprintf("%s/%d", m.name, size), func(t *testing.T) {
				data := randomBytes(size, uint64(mi))
				ctx := t.Context()
				w, err := be.Create(ctx)
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
				n, err := m.write(w, data)
				if err != nil || n != int64(size) {
					w.Abort()
					t.Fatalf("writing %d bytes = %d, %v", size, n, err)
				}
				id, err := w.Commit(ctx)
				if err != nil {
					w.Abort()
					t.Fatalf("Commit: %v", err)
				}
				checkEqual(t, "read back", get(t, be, id), data)
				if size > 64<<10 {
					return // iotest.TestReader reads a few bytes per call
				}
				b, err := be.Open(ctx, id)
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer b.Close()
				if err := iotest.TestReader(b, data); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

func testZeroLength(t *testing.T, be storage.Backend) {
	ctx := t.Context()
	w, err := be.Create(ctx)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	id, err := w.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit of an empty blob: %v", err)
	}
	wantWalk(t, be, id)
	b, err := be.Open(ctx, id)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Close()
	if b.Size() != 0 {
		t.Errorf("Size() = %d, want 0", b.Size())
	}
	p := make([]byte, 8)
	if n, err := b.Read(p); n != 0 || err != io.EOF {
		t.Errorf("Read = %d, %v, want 0, EOF", n, err)
	}
	if n, err := b.ReadAt(p, 0); n != 0 || err != io.EOF {
		t.Errorf("ReadAt(8, 0) = %d, %v, want 0, EOF", n, err)
	}
}

// testReadAtAndSeek checks the io.ReaderAt and io.Seeker contracts on one
// open blob, in order: each step depends on the offset the previous left.
func testReadAtAndSeek(t *testing.T, be storage.Backend) {
	const size = 100_000
	data := randomBytes(size, 7)
	id := Put(t, be, data)
	b, err := be.Open(t.Context(), id)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Close()

	steps := []struct {
		name    string
		op      string // "read", "readat", "seek"
		n       int    // bytes to read
		off     int64  // ReadAt offset or Seek offset
		whence  int
		want    []byte // for reads
		wantErr error  // io.EOF, or errAny
		wantPos int64  // Seek result
	}{
		{name: "read head", op: "read", n: 10, want: data[:10]},
		{name: "readat middle", op: "readat", n: 100, off: 5000, want: data[5000:5100]},
		{name: "read continues after readat", op: "read", n: 10, want: data[10:20]},
		{name: "seek current reports offset", op: "seek", off: 0, whence: io.SeekCurrent, wantPos: 20},
		{name: "readat straddling end", op: "readat", n: 100, off: size - 50, want: data[size-50:], wantErr: io.EOF},
		{name: "readat at end", op: "readat", n: 1, off: size, want: []byte{}, wantErr: io.EOF},
		{name: "readat past end", op: "readat", n: 1, off: size + 10, want: []byte{}, wantErr: io.EOF},
		{name: "readat negative", op: "readat", n: 1, off: -1, wantErr: errAny},
		{name: "readat exact tail", op: "readat", n: 10, off: size - 10, want: data[size-10:]},
		{name: "seek from end", op: "seek", off: -5, whence: io.SeekEnd, wantPos: size - 5},
		{name: "read tail", op: "read", n: 100, want: data[size-5:], wantErr: io.EOF},
		{name: "read at eof", op: "read", n: 100, want: []byte{}, wantErr: io.EOF},
		{name: "seek end", op: "seek", off: 0, whence: io.SeekEnd, wantPos: size},
		{name: "seek before start", op: "seek", off: -1, whence: io.SeekStart, wantErr: errAny},
		{name: "seek past end", op: "seek", off: size + 100, whence: io.SeekStart, wantPos: size + 100},
		{name: "read past end", op: "read", n: 10, want: []byte{}, wantErr: io.EOF},
		{name: "seek start", op: "seek", off: 12345, whence: io.SeekStart, wantPos: 12345},
		{name: "read after seek", op: "read", n: 1000, want: data[12345:13345]},
		{name: "seek relative", op: "seek", off: -345, whence: io.SeekCurrent, wantPos: 13000},
		{name: "read after relative seek", op: "read", n: 7, want: data[13000:13007]},
	}
	for _, s := range steps {
		var got []byte
		var err error
		var pos int64
		switch s.op {
		case "read":
			got = make([]byte, s.n)
			var n int
			n, err = io.ReadFull(b, got)
			got = got[:n]
			if err == io.ErrUnexpectedEOF || (n == 0 && err == io.EOF) {
				err = io.EOF
			}
		case "readat":
			got = make([]byte, s.n)
			var n int
			n, err = b.ReadAt(got, s.off)
			got = got[:n]
		case "seek":
			pos, err = b.Seek(s.off, s.whence)
		}
		if s.wantErr == errAny {
			if err == nil {
				t.Errorf("%s: no error, want one", s.name)
			}
			continue
		}
		// ReadAt may return io.EOF along with the last bytes of the blob.
		eofAtEnd := s.op == "readat" && err == io.EOF && s.off+int64(s.n) == size
		if err != s.wantErr && !(s.wantErr == nil && eofAtEnd) {
			t.Fatalf("%s: error %v, want %v", s.name, err, s.wantErr)
		}
		if s.op == "seek" {
			if pos != s.wantPos {
				t.Fatalf("%s: Seek = %d, want %d", s.name, pos, s.wantPos)
			}
		} else if !bytes.Equal(got, s.want) {
			t.Fatalf("%s: got %d bytes, want %d (%x…, want %x…)", s.name, len(got), len(s.want), head(got), head(s.want))
		}
	}
	if b.Size() != size {
		t.Errorf("Size() = %d, want %d", b.Size(), size)
	}
}

// errAny in a step means "some error".
var errAny = fmt.Errorf("any error")

func head(b []byte) []byte { return b[:min(len(b), 8)] }

// testConcurrentReadAt uses one open blob from several goroutines, as
// io.ReaderAt allows.
func testConcurrentReadAt(t *testing.T, be storage.Backend) {
	const size = 1 << 20
	data := randomBytes(size, 11)
	b, err := be.Open(t.Context(), Put(t, be, data))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			p := make([]byte, 64<<10)
			for range 50 {
				off := r.Int64N(size)
				n := r.IntN(len(p)) + 1
				got, err := b.ReadAt(p[:n], off)
				want := data[off:min(off+int64(n), size)]
				if err != nil && !(err == io.EOF && off+int64(n) >= size) {
					t.Errorf("ReadAt(%d, %d): %v", n, off, err)
					return
				}
				if !bytes.Equal(p[:got], want) {
					t.Errorf("ReadAt(%d, %d) returned wrong bytes", n, off)
					return
				}
			}
		})
	}
	wg.Wait()
}

// testLarge streams 32 MiB in and out through iotest readers, so neither
// side sees the whole body in one call.
func testLarge(t *testing.T, be storage.Backend) {
	const size = 32 << 20
	data := randomBytes(size, 13)
	ctx := t.Context()
	w, err := be.Create(ctx)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if n, err := io.Copy(w, iotest.HalfReader(iotest.DataErrReader(bytes.NewReader(data)))); err != nil || n != size {
		w.Abort()
		t.Fatalf("io.Copy into writer = %d, %v", n, err)
	}
	id, err := w.Commit(ctx)
	if err != nil {
		w.Abort()
		t.Fatalf("Commit: %v", err)
	}
	b, err := be.Open(ctx, id)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Close()
	if b.Size() != size {
		t.Errorf("Size() = %d, want %d", b.Size(), size)
	}
	got, err := io.ReadAll(iotest.HalfReader(b))
	if err != nil {
		t.Fatalf("reading back: %v", err)
	}
	checkEqual(t, "read back", got, data)
	for _, off := range []int64{0, 1<<20 - 1, 16 << 20, size - 4096} {
		p := make([]byte, 4096)
		n, err := b.ReadAt(p, off)
		if n != len(p) || (err != nil && err != io.EOF) {
			t.Fatalf("ReadAt(4096, %d) = %d, %v", off, n, err)
		}
		checkEqual(t, fmt.Sprintf("ReadAt(4096, %d)", off), p, data[off:off+4096])
	}
}

// testReadAfterDelete checks that an open blob survives Delete.
func testReadAfterDelete(t *testing.T, be storage.Backend) {
	const size = 1 << 20
	data := randomBytes(size, 17)
	id := Put(t, be, data)
	b, err := be.Open(t.Context(), id)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Close()
	first := make([]byte, size/2)
	if _, err := io.ReadFull(b, first); err != nil {
		t.Fatalf("read first half: %v", err)
	}
	if err := be.Delete(t.Context(), id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotExist(t, be, id)
	rest, err := io.ReadAll(b)
	if err != nil {
		t.Fatalf("read after Delete: %v", err)
	}
	checkEqual(t, "Read after Delete", append(first, rest...), data)
	p := make([]byte, size)
	if n, err := b.ReadAt(p, 0); n != size || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt after Delete = %d, %v", n, err)
	}
	checkEqual(t, "ReadAt after Delete", p, data)
}
