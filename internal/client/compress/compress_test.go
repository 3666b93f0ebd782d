package compress

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/nix/codec"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// sample returns n bytes, half text-like (compressible) and half random.
func sample(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{7})
	r.Read(b[n/2:])
	line := []byte("/nix/store/00000000000000000000000000000000-text-line ")
	for i := 0; i < n/2; i++ {
		b[i] = line[i%len(line)]
	}
	return b
}

// decode reads data back through the server's bounded decoders, so that
// everything push writes is something nixbucket accepts.
func decode(t *testing.T, method string, data []byte) []byte {
	t.Helper()
	r, err := codec.NewReader(method, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s reader: %v", method, err)
	}
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s decode: %v", method, err)
	}
	return out
}

func compressAll(t *testing.T, o Options, data []byte, step int) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := NewWriter(context.Background(), &b, o)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += step {
		if _, err := w.Write(data[off:min(off+step, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	small, large := sample(1000), sample(20<<20) // large: several parallel zstd jobs
	tests := []struct {
		o    Options
		data []byte
		ext  string
	}{
		{Options{Method: Zstd, Level: -1}, small, ".zst"},
		{Options{Method: Zstd, Level: -1}, nil, ".zst"},
		{Options{Method: Zstd, Level: 0}, small, ".zst"},
		{Options{Method: Zstd, Level: 19}, small, ".zst"},
		{Options{Method: Zstd, Level: -1, Parallel: true}, large, ".zst"},
		{Options{Method: Zstd, Level: 1, Parallel: true}, small, ".zst"},
		{Options{Method: Zstd, Level: 3}, large, ".zst"},
		{Options{Method: Brotli, Level: -1}, small, ".br"},
		{Options{Method: Brotli, Level: 1}, large[:1<<20], ".br"},
		{Options{Method: Gzip, Level: -1}, small, ""},
		{Options{Method: Gzip, Level: 9}, small, ""},
		{Options{Method: None, Level: -1}, small, ""},
	}
	// Xz compresses through the xz program, which the test script
	// installs; without it these cases skip (fail under CI=true) below.
	xzFrom := len(tests)
	{
		tests = append(tests,
			struct {
				o    Options
				data []byte
				ext  string
			}{Options{Method: Xz, Level: 0}, small, ".xz"},
			struct {
				o    Options
				data []byte
				ext  string
			}{Options{Method: Xz, Level: 1, Parallel: true}, large[:4<<20], ".xz"},
		)
	}
	for i, tt := range tests {
		if i == xzFrom {
			testenv.Need(t, "xz")
		}
		for _, step := range []int{1 << 30, 4097} {
			out := compressAll(t, tt.o, tt.data, step)
			if got := decode(t, tt.o.Method, out); !bytes.Equal(got, tt.data) {
				t.Errorf("%+v, writes of %d: round trip of %d bytes gave %d bytes", tt.o, step, len(tt.data), len(got))
			}
			if tt.o.Method != None && len(tt.data) > 100 && len(out) >= len(tt.data) {
				t.Errorf("%+v: %d bytes compressed to %d", tt.o, len(tt.data), len(out))
			}
		}
		if got := Ext(tt.o.Method); got != tt.ext {
			t.Errorf("Ext(%s) = %q, want %q", tt.o.Method, got, tt.ext)
		}
	}
}

// TestParallelZstd checks that the parallel encoder writes the same bytes
// every time (a rerun must name the file the same: nar/<FileHash>), one
// standard frame that the zstd program reads.
func TestParallelZstd(t *testing.T) {
	data := sample(24 << 20)
	o := Options{Method: Zstd, Level: -1, Parallel: true}
	a, b := compressAll(t, o, data, 1<<20), compressAll(t, o, data, 65536)
	if !bytes.Equal(a, b) {
		t.Fatal("two parallel compressions of the same input differ")
	}
	single := compressAll(t, Options{Method: Zstd, Level: -1}, data, 1<<20)
	t.Logf("24 MiB: parallel %d bytes, single %d bytes", len(a), len(single))
	testenv.Need(t, "zstd")
	cmd := exec.Command("zstd", "-d", "-c")
	cmd.Stdin = bytes.NewReader(a)
	out, err := cmd.Output()
	if err != nil || !bytes.Equal(out, data) {
		t.Fatalf("zstd -d: %v, %d bytes", err, len(out))
	}
	file := filepath.Join(t.TempDir(), "nar.zst")
	if err := os.WriteFile(file, a, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("zstd", "-l", "-v", file).CombinedOutput(); err != nil || !bytes.Contains(out, []byte("# Zstandard Frames: 1\n")) {
		t.Errorf("zstd -lv: %v; want one frame:\n%s", err, out)
	}
}

// TestParallelSlot checks that a second parallel zstd stream waits for the
// first, and gives up when its context ends.
func TestParallelSlot(t *testing.T) {
	w1, err := NewWriter(context.Background(), io.Discard, Options{Method: Zstd, Level: -1, Parallel: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := NewWriter(ctx, io.Discard, Options{Method: Zstd, Level: -1, Parallel: true}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second parallel writer: %v, want it to wait until the deadline", err)
	}
	if err := w1.Close(); err != nil {
		t.Fatal(err)
	}
	w2, err := NewWriter(context.Background(), io.Discard, Options{Method: Zstd, Level: -1, Parallel: true})
	if err != nil {
		t.Fatal(err)
	}
	w2.Close()
	w2.Close() // a second Close is harmless and does not free the slot twice
}

func TestLevels(t *testing.T) {
	for _, o := range []Options{{Method: Zstd, Level: 23}, {Method: Xz, Level: 10}, {Method: Brotli, Level: 12}, {Method: Gzip, Level: -2}, {Method: "lz4", Level: -1}} {
		if _, err := NewWriter(context.Background(), io.Discard, o); err == nil {
			t.Errorf("NewWriter(%+v): no error", o)
		}
	}
}

func TestEncode(t *testing.T) {
	doc := []byte("StorePath: /nix/store/00000000000000000000000000000000-x\nURL: nar/x.nar\n")
	for _, m := range []string{Gzip, Brotli, Zstd, "", None} {
		enc, err := Encode(context.Background(), m, doc)
		if err != nil {
			t.Fatal(err)
		}
		method := m
		if m == "" {
			method = None
		}
		if got := decode(t, method, enc); !bytes.Equal(got, doc) {
			t.Errorf("Encode(%q) does not round-trip", m)
		}
	}
}
