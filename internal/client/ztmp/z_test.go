package ztmp

import (
	"crypto/rand"
	"io"
	"os"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

func TestSpeed(t *testing.T) {
	rnd := make([]byte, 64<<20)
	rand.Read(rnd)
	perl, _ := os.ReadFile("/usr/bin/perl")
	var comp []byte
	for len(comp) < 32<<20 {
		comp = append(comp, perl...)
	}
	for _, lvl := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault} {
		for name, data := range map[string][]byte{"random": rnd, "perl": comp} {
			e, _ := zstd.NewWriter(io.Discard, zstd.WithEncoderLevel(lvl), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(2<<20))
			st := time.Now()
			for off := 0; off < len(data); off += 32 << 10 {
				e.Write(data[off:min(off+32<<10, len(data))])
			}
			e.Close()
			t.Logf("%v %s: %.0f MB/s", lvl, name, float64(len(data))/time.Since(st).Seconds()/1e6)
		}
	}
}
