package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"runtime"
	"testing"
)

// fuzzMethods are the compressions FuzzDecode picks from.
var fuzzMethods = []string{"zstd", "bzip2", "gzip", "br", "xz", "none"}

// FuzzDecode feeds any bytes to every decoder (FuzzXz goes deeper into
// xz). Bytes, which decodes uploaded narinfos and listings, must stay
// within its output limit and allocate a bounded amount whatever the
// stream claims, and must agree with the streaming reader on what it
// accepts; the streaming reader must fail rather than panic or hang.
func FuzzDecode(f *testing.F) {
	doc := []byte("StorePath: /nix/store/00000000000000000000000000000000-x\nURL: nar/x.nar\nNarSize: 1\n")
	for i, m := range fuzzMethods {
		if m == "bzip2" { // no encoder of ours: python3's bz2 and a bomb
			b, _ := hex.DecodeString("425a6839314159265359a2b3c079000003db80001040008010480022619c40200021a8f4801e9a8530004d1da0eb75be506b844829cc3f8bb9229c28485159e03c80")
			f.Add(uint8(i), b)
			if b, err := os.ReadFile("testdata/zeros-200M.bz2"); err == nil {
				f.Add(uint8(i), b)
			}
			continue
		}
		var b bytes.Buffer
		w, err := NewWriter(m, &b, WriterOptions{})
		if err != nil {
			if m == "xz" || m == "none" {
				continue // no encoder of ours
			}
			f.Fatal(err)
		}
		w.Write(doc)
		w.Close()
		f.Add(uint8(i), b.Bytes())
	}
	f.Add(uint8(0), zstdWindowBomb())
	f.Add(uint8(4), xzDictBomb())
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		m := fuzzMethods[int(which)%len(fuzzMethods)]
		const limit = 64 << 10
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		out, err := Bytes(m, data, limit)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 24<<20 {
			t.Fatalf("Bytes(%s) allocated %d MiB for %d input bytes", m, alloc>>20, len(data))
		}
		if err == nil && len(out) > limit {
			t.Fatalf("Bytes(%s): %d bytes out of a %d-byte limit", m, len(out), limit)
		}
		r, rerr := NewReader(m, bytes.NewReader(data))
		var streamed []byte
		if rerr == nil {
			streamed, rerr = io.ReadAll(io.LimitReader(r, limit+1))
			r.Close()
		}
		switch {
		case err == nil && rerr != nil && !errors.Is(rerr, ErrLimit):
			t.Fatalf("Bytes(%s) decoded %d bytes; the reader failed: %v", m, len(out), rerr)
		case err == nil && !bytes.Equal(out, streamed):
			t.Fatalf("Bytes(%s) and the reader disagree: %q, %q", m, out, streamed)
		case err != nil && rerr == nil && len(streamed) <= limit && !errors.Is(err, ErrLimit):
			t.Fatalf("Bytes(%s) failed (%v); the reader decoded %d bytes", m, err, len(streamed))
		}
	})
}
