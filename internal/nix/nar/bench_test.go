package nar_test

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/nar"
)

// BenchmarkDumpPath measures DumpPath on the tree in NAR_BENCH_PATH (skipped
// when unset), writing to io.Discard.
func BenchmarkDumpPath(b *testing.B) {
	path := os.Getenv("NAR_BENCH_PATH")
	if path == "" {
		b.Skip("NAR_BENCH_PATH not set")
	}
	var size int64
	for b.Loop() {
		cw := &countWriter{}
		if err := nar.DumpPath(cw, path); err != nil {
			b.Fatal(err)
		}
		size = cw.n
	}
	b.SetBytes(size)
}

// BenchmarkReader reads a NAR holding one 64 MiB file.
func BenchmarkReader(b *testing.B) {
	var buf bytes.Buffer
	nw := nar.NewWriter(&buf)
	data := bytes.Repeat([]byte("0123456789abcdef"), 4<<20) // 64 MiB
	nw.WriteHeader(&nar.Header{Path: "/", Type: nar.TypeRegular, Size: int64(len(data))})
	nw.Write(data)
	nw.Close()
	in := buf.Bytes()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		nr := nar.NewReader(bytes.NewReader(in))
		for {
			_, err := nr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, nr)
		}
	}
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }
