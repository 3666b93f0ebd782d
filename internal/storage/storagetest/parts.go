package storagetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"github.com/nixbucket/nixbucket/internal/storage"
)

// WithPartSize tells the suite the size of the pieces the backend writes
// and reads in (a remote store's multipart part size, a local one's
// buffer), so that it checks blobs and reads that straddle them. The
// default is 1 MiB.
func WithPartSize(n int) Option {
	return func(c *config) { c.partSize = n }
}

// testPartBoundaries writes blobs of several parts, in pieces that do not
// line up with the parts, and reads them back across every boundary.
func testPartBoundaries(t *testing.T, be storage.Backend, part int) {
	for _, size := range []int{part - 1, part, part + 1, 2 * part, 3*part + 17} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := randomBytes(size, uint64(size))
			ctx := t.Context()
			w, err := be.Create(ctx)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			// Odd-sized writes, then the rest through ReadFrom if offered.
			rest := data
			for i := 0; i < 3 && len(rest) > part/3; i++ {
				c := part/3 + 7
				if _, err := w.Write(rest[:c]); err != nil {
					w.Abort()
					t.Fatalf("Write: %v", err)
				}
				rest = rest[c:]
			}
			if _, err := io.Copy(w, iotest.HalfReader(bytes.NewReader(rest))); err != nil {
				w.Abort()
				t.Fatalf("io.Copy: %v", err)
			}
			id, err := w.Commit(ctx)
			if err != nil {
				w.Abort()
				t.Fatalf("Commit: %v", err)
			}
			checkEqual(t, "read back", get(t, be, id), data)
			b, err := be.Open(ctx, id)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer b.Close()
			for k := 1; k*part <= size; k++ {
				for _, off := range []int{k*part - 100, k*part - 1, k * part} {
					n := min(200, size-off)
					if n <= 0 || off < 0 {
						continue
					}
					p := make([]byte, n)
					got, err := b.ReadAt(p, int64(off))
					if got != n || (err != nil && !(err == io.EOF && off+n == size)) {
						t.Fatalf("ReadAt(%d, %d) = %d, %v", n, off, got, err)
					}
					checkEqual(t, fmt.Sprintf("ReadAt(%d, %d)", n, off), p, data[off:off+n])
				}
			}
			// A sequential reader that crosses the boundaries in odd steps.
			if _, err := b.Seek(int64(part/2), io.SeekStart); err != nil {
				t.Fatalf("Seek: %v", err)
			}
			got, err := io.ReadAll(iotest.HalfReader(b))
			if err != nil {
				t.Fatalf("reading from %d: %v", part/2, err)
			}
			checkEqual(t, fmt.Sprintf("read from %d", part/2), got, data[min(part/2, size):])
		})
	}
}

// testCancelMidWrite cancels the context a blob was created under after
// more than two parts were written: whether the writer then fails or not,
// no blob may appear but a complete one.
func testCancelMidWrite(t *testing.T, be storage.Backend, part int) {
	data := randomBytes(2*part+part/2, 23)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w, err := be.Create(ctx)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	half := len(data) / 2
	if _, err := w.Write(data[:half]); err != nil {
		w.Abort()
		t.Fatalf("Write: %v", err)
	}
	cancel()
	if _, err := w.Write(data[half:]); err != nil {
		if err := w.Abort(); err != nil {
			t.Errorf("Abort after a failed Write: %v", err)
		}
		wantWalk(t, be)
		return
	}
	id, err := w.Commit(ctx)
	if err != nil {
		if err := w.Abort(); err != nil {
			t.Errorf("Abort after a failed Commit: %v", err)
		}
		wantWalk(t, be)
		return
	}
	wantWalk(t, be, id)
	checkEqual(t, "blob committed after its context ended", get(t, be, id), data)
}
