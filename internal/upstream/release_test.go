package upstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// blockingSink is a sink whose Commit waits until release is closed, and
// reads the temp file it is given (a pull-through bucket hashes it).
type blockingSink struct {
	sink
	entered, release chan struct{}
}

func (s *blockingSink) Commit(ctx context.Context, tempPath string) error {
	close(s.entered)
	<-s.release
	return s.sink.Commit(ctx, tempPath)
}

// TestNAREarlyRelease: with EarlyRelease, readers have every byte while
// the sink's Commit still runs; Settled waits for the Commit; a caller
// that comes meanwhile joins the download rather than fetching again.
// Without it (the proxy), the last byte waits for the Commit.
func TestNAREarlyRelease(t *testing.T) {
	for _, early := range []bool{true, false} {
		k := newKey(t, "k")
		p := makePath(t, hashA, 600<<10, &k)
		u := newUpstream(t, p)
		f := fetcherFor(t, u, k.Public())
		ni, err := f.Narinfo(t.Context(), hashA)
		if err != nil {
			t.Fatal(err)
		}
		sk := &blockingSink{entered: make(chan struct{}), release: make(chan struct{})}
		d, _, err := f.FetchNAR(t.Context(), NARRequest{Source: ni.Source, Info: ni.Info, Dir: t.TempDir(), Sink: sk, EarlyRelease: early})
		if err != nil {
			t.Fatal(err)
		}
		<-sk.entered // verified, fsynced, and being kept
		// Bounded, so that a reader held back fails instead of hanging.
		rctx, rcancel := context.WithTimeout(t.Context(), time.Minute)
		defer rcancel()
		r, _ := d.NewReader(rctx, 0, -1)
		if early {
			if err := readsAll(r, p.nar); err != nil {
				t.Errorf("early: %v", err)
			}
		} else {
			// The last byte waits: a reader bounded by a context that
			// ends gets all but it.
			ctx, cancel := context.WithCancel(t.Context())
			r2, _ := d.NewReader(ctx, int64(len(p.nar))-1, -1)
			cancel()
			if n, err := r2.Read(make([]byte, 1)); n != 0 || !errors.Is(err, context.Canceled) {
				t.Errorf("not early: the last byte came during the Commit (%d, %v)", n, err)
			}
			r2.Close()
		}
		d2, started, err := f.FetchNAR(t.Context(), NARRequest{Source: ni.Source, Info: ni.Info, Dir: t.TempDir()})
		if err != nil || started {
			t.Fatalf("FetchNAR during the Commit: started %v, %v", started, err)
		}
		d2.Close()
		select {
		case <-d.settled:
			t.Error("Settled before the Commit returned")
		default:
		}
		close(sk.release)
		if err := d.Settled(t.Context()); err != nil {
			t.Fatal(err)
		}
		if !early {
			if err := readsAll(r, p.nar); err != nil {
				t.Errorf("after the Commit: %v", err)
			}
		}
		r.Close()
		d.Close()
		sk.mu.Lock()
		if sk.committed != 1 || !bytes.Equal(sk.tempSeen, p.nar) {
			t.Errorf("early %v: committed %d, the Commit read %d bytes", early, sk.committed, len(sk.tempSeen))
		}
		sk.mu.Unlock()
		if n := u.count(p.narPath); n != 1 {
			t.Errorf("early %v: upstream served the NAR %d times", early, n)
		}
	}
}

const hashB = "1c2kb3ix3x6w4a5ijfbaqgzkzdnlyrsh"

// readsAll reads r whole and compares it with want.
func readsAll(r io.Reader, want []byte) error {
	got, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return errors.New("bytes differ")
	}
	return nil
}

// TestNARWriteTo: io.Copy into a file (an io.ReaderFrom, as an HTTP
// response is) takes the bytes through WriteTo, from the reader's own file
// description, for a whole file and for a range, while the download is
// held halfway and after; a failed download fails the copy short of the
// whole file.
func TestNARWriteTo(t *testing.T) {
	k := newKey(t, "k")
	p := makePath(t, hashA, 1<<20, &k)
	u := newUpstream(t, p)
	u.hold, u.held = make(chan struct{}), make(chan struct{})
	f := fetcherFor(t, u, k.Public())
	ni, err := f.Narinfo(t.Context(), hashA)
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := f.FetchNAR(t.Context(), NARRequest{Source: ni.Source, Info: ni.Info, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	<-u.held
	out := filepath.Join(t.TempDir(), "out")
	copyTo := func(offset, length int64) []byte {
		t.Helper()
		dst, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		defer dst.Close()
		r, _ := d.NewReader(t.Context(), offset, length)
		defer r.Close()
		if _, ok := r.(io.WriterTo); !ok {
			t.Fatal("the reader is no io.WriterTo")
		}
		if _, err := io.Copy(dst, r); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(out)
		return got
	}
	done := make(chan []byte)
	go func() { done <- copyTo(0, -1) }()
	close(u.hold)
	if got := <-done; !bytes.Equal(got, p.nar) {
		t.Errorf("whole file: %d bytes, want %d", len(got), len(p.nar))
	}
	if got := copyTo(1000, 70000); !bytes.Equal(got, p.nar[1000:71000]) {
		t.Errorf("range: %d bytes", len(got))
	}

	bad := makePath(t, hashB, 300<<10, &k)
	u2 := newUpstream(t, bad)
	u2.files[bad.narPath] = append(bytes.Clone(bad.nar[:len(bad.nar)-1]), bad.nar[len(bad.nar)-1]^1)
	f2 := fetcherFor(t, u2, k.Public())
	ni2, err := f2.Narinfo(t.Context(), hashB)
	if err != nil {
		t.Fatal(err)
	}
	d2, _, err := f2.FetchNAR(t.Context(), NARRequest{Source: ni2.Source, Info: ni2.Info, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	dst, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	r, _ := d2.NewReader(t.Context(), 0, -1)
	defer r.Close()
	n, err := io.Copy(dst, r)
	if !errors.Is(err, ErrMismatch) || n >= int64(len(bad.nar)) {
		t.Errorf("tampered file: copied %d of %d bytes, err %v; want ErrMismatch short of the end", n, len(bad.nar), err)
	}
}
