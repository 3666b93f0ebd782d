package s3store

import (
	"bytes"
	"io"
	"math/rand"
	"testing"
)

// TestSpliceSource: a blob read partly through Read, then handed over as
// its socket (SpliceSource, as the fast lane splices it), then read on
// with Read, gives exactly its bytes; the connection of a GET read to its
// end is reused, and a short move leaves the blob readable.
func TestSpliceSource(t *testing.T) {
	b, _, _ := open(t, "p")
	if !b.rawCapable() {
		t.Fatalf("the test store at %s is not plain http", b.cfg.Endpoint)
	}
	data := make([]byte, 3<<20+17)
	rand.New(rand.NewSource(1)).Read(data)
	w, _ := b.Create(t.Context())
	w.Write(data)
	id, err := w.Commit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	bl, err := b.OpenStream(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer bl.Close()
	if bl.Size() != int64(len(data)) {
		t.Fatalf("Size = %d, want %d", bl.Size(), len(data))
	}
	var got bytes.Buffer
	if _, err := io.CopyN(&got, bl, 1000); err != nil {
		t.Fatal(err)
	}
	splice := func(n int64) {
		t.Helper()
		head, conn, done, err := bl.(*blob).SpliceSource(n)
		if err != nil || conn == nil {
			t.Fatalf("SpliceSource(%d) = conn %v, err %v; want a connection", n, conn, err)
		}
		got.Write(head)
		moved, err := io.CopyN(&got, conn, n-int64(len(head)))
		done(moved, err)
		if err != nil {
			t.Fatalf("reading %d spliced bytes: %v", n, err)
		}
	}
	splice(1 << 20) // the stream Read opened, from where Read left it
	if _, err := io.CopyN(&got, bl, 5000); err != nil {
		t.Fatal(err)
	}
	if _, err := bl.Seek(int64(got.Len())+100, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got.Write(data[got.Len() : got.Len()+100]) // skipped: a new GET there
	splice(int64(len(data) - got.Len()))       // to the end: released
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("read %d bytes that differ from the blob's %d", got.Len(), len(data))
	}
	if n := len(b.raw.idle); n != 1 {
		t.Errorf("%d idle connections after a GET read to its end, want 1", n)
	}
	// The next blob's GET reuses it.
	again, err := b.OpenStream(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if n := len(b.raw.idle); n != 0 {
		t.Errorf("%d idle connections after a new GET, want 0 (reused)", n)
	}
	all, err := io.ReadAll(again)
	if err != nil || !bytes.Equal(all, data) {
		t.Fatalf("second read: %d bytes, err %v", len(all), err)
	}
}

// TestSpliceDeclinedOverHTTPS: a store reached over https is read through
// the SDK, and SpliceSource declines.
func TestSpliceDeclinedOverHTTPS(t *testing.T) {
	b := &Backend{cfg: Config{Endpoint: "https://s3.example"}}
	bl := &blob{b: b, size: 10}
	if _, conn, _, err := bl.SpliceSource(10); conn != nil || err != nil {
		t.Fatalf("SpliceSource over https = %v, %v; want nil, nil", conn, err)
	}
	if _, err := b.rawGet(t.Context(), "x", 0, ""); err != errNoRaw {
		t.Fatalf("rawGet over https = %v, want errNoRaw", err)
	}
}
