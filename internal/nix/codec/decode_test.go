package codec

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// sample is compressible text with some random bytes.
func sample(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	line := []byte("/nix/store/00000000000000000000000000000000-text-line ")
	for i := range b {
		if i%3 == 0 {
			b[i] = byte(r.Uint32())
		} else {
			b[i] = line[i%len(line)]
		}
	}
	return b
}

func compressGo(t *testing.T, method string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	var w io.WriteCloser
	var err error
	switch method {
	case "xz":
		w, err = xz.NewWriter(&b)
	case "zstd":
		w, err = zstd.NewWriter(&b, zstd.WithWindowSize(4<<20))
	case "gzip":
		w = gzip.NewWriter(&b)
	case "br":
		w = brotli.NewWriter(&b)
	case "none":
		return data
	default:
		t.Fatalf("no Go compressor for %s", method)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// compressCLI runs a compressor program on data through a pipe, as Nix's
// users do, or skips when it is missing.
func compressCLI(t *testing.T, data []byte, prog string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath(prog); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed", prog)
		}
		t.Skipf("%s not installed", prog)
	}
	cmd := exec.Command(prog, args...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v", prog, args, err)
	}
	return out
}

func decodeAll(t *testing.T, method string, data []byte, oneByte bool) ([]byte, error) {
	t.Helper()
	var in io.Reader = bytes.NewReader(data)
	if oneByte {
		in = iotest.OneByteReader(in)
	}
	r, err := NewReader(method, in)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func TestRoundTrip(t *testing.T) {
	data := sample(1<<20 + 12345)
	cases := []struct {
		name, method string
		enc          func(t *testing.T) []byte
	}{
		{"xz-go", "xz", func(t *testing.T) []byte { return compressGo(t, "xz", data) }},
		{"xz-cli", "xz", func(t *testing.T) []byte { return compressCLI(t, data, "xz", "-6", "-c") }},
		{"xz-cli-crc32", "xz", func(t *testing.T) []byte { return compressCLI(t, data, "xz", "-1", "-C", "crc32", "-c") }},
		{"xz-cli-sha256", "xz", func(t *testing.T) []byte { return compressCLI(t, data, "xz", "-1", "-C", "sha256", "-c") }},
		{"xz-cli-none", "xz", func(t *testing.T) []byte { return compressCLI(t, data, "xz", "-1", "-C", "none", "-c") }},
		{"xz-cli-multiblock", "xz", func(t *testing.T) []byte {
			return compressCLI(t, data, "xz", "-1", "-T2", "--block-size=500000", "-c")
		}},
		{"xz-two-streams", "xz", func(t *testing.T) []byte {
			a := compressCLI(t, data[:1000], "xz", "-1", "-c")
			b := compressCLI(t, data[1000:], "xz", "-1", "-c")
			return append(append(a, 0, 0, 0, 0), b...)
		}},
		{"zstd-go", "zstd", func(t *testing.T) []byte { return compressGo(t, "zstd", data) }},
		{"zstd-cli", "zstd", func(t *testing.T) []byte { return compressCLI(t, data, "zstd", "-3", "-c") }},
		{"bzip2-cli", "bzip2", func(t *testing.T) []byte { return compressCLI(t, data, "bzip2", "-c") }},
		{"gzip", "gzip", func(t *testing.T) []byte { return compressGo(t, "gzip", data) }},
		{"br", "br", func(t *testing.T) []byte { return compressGo(t, "br", data) }},
		{"none", "none", func(t *testing.T) []byte { return data }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			enc := c.enc(t)
			for _, one := range []bool{false, true} {
				if one && len(enc) > 1<<20 {
					continue
				}
				got, err := decodeAll(t, c.method, enc, one)
				if err != nil {
					t.Fatalf("oneByte=%v: %v", one, err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("oneByte=%v: decoded %d bytes, want the %d compressed", one, len(got), len(data))
				}
			}
			got, err := Bytes(c.method, enc, int64(len(data)))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Bytes: %d bytes, %v", len(got), err)
			}
			if _, err := Bytes(c.method, enc, int64(len(data)-1)); !errors.Is(err, ErrLimit) {
				t.Fatalf("Bytes with a limit one short: %v, want ErrLimit", err)
			}
		})
	}
}

// TestXzEmpty: an xz stream of nothing decodes to nothing.
func TestXzEmpty(t *testing.T) {
	got, err := decodeAll(t, "xz", compressCLI(t, nil, "xz", "-c"), false)
	if err != nil || len(got) != 0 {
		t.Fatalf("got %d bytes, %v", len(got), err)
	}
}

// TestXzCorrupt: damage anywhere is an error, never a panic or a hang.
func TestXzCorrupt(t *testing.T) {
	data := sample(100 << 10)
	enc := compressCLI(t, data, "xz", "-1", "-c")
	for _, i := range []int{0, 7, 13, 20, len(enc) / 2, len(enc) - 30, len(enc) - 10, len(enc) - 3} {
		bad := bytes.Clone(enc)
		bad[i] ^= 0x55
		if got, err := decodeAll(t, "xz", bad, false); err == nil && bytes.Equal(got, data) {
			t.Errorf("flipping byte %d went unnoticed", i)
		}
	}
	for _, n := range []int{0, 5, 12, 30, len(enc) - 1} {
		if _, err := decodeAll(t, "xz", enc[:n], false); err == nil {
			t.Errorf("truncated to %d bytes: no error", n)
		}
	}
}

// xzDictBomb is a valid-looking xz stream whose block asks for a
// dictionary of 4 GiB: the old decoder allocated it for an 80-byte body.
func xzDictBomb() []byte {
	var b bytes.Buffer
	b.Write(xzMagic)
	flags := []byte{0, 0x01}
	b.Write(flags)
	binary.Write(&b, binary.LittleEndian, crc32.ChecksumIEEE(flags))
	hdr := []byte{0x02, 0x00, 0x21, 0x01, 40, 0, 0, 0} // size 12, one filter: LZMA2, dict code 40
	b.Write(hdr)
	binary.Write(&b, binary.LittleEndian, crc32.ChecksumIEEE(hdr))
	b.Write([]byte{0x01, 0x00, 0x03, 'a', 'b', 'c', 'd', 0x00}) // an uncompressed chunk, end
	for b.Len() < 80 {
		b.WriteByte(0)
	}
	return b.Bytes()
}

// zstdWindowBomb is a zstd frame naming a 2 GiB window, with no content
// size, holding five bytes.
func zstdWindowBomb() []byte {
	return []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 21 << 3, 5<<3 | 1, 0, 0, 'h', 'e', 'l', 'l', 'o'}
}

func ratioBomb(t *testing.T, method string) []byte {
	zeros := make([]byte, 64<<20)
	switch method {
	case "bzip2":
		b, err := os.ReadFile("testdata/zeros-200M.bz2")
		if err != nil {
			t.Fatal(err)
		}
		return b
	case "gzip", "br":
		return compressGo(t, method, zeros)
	}
	t.Fatalf("no bomb for %s", method)
	return nil
}

// TestBombsRefused: every bomb is refused quickly, without allocating
// what it asks for, by the streaming decoder and by Bytes.
func TestBombsRefused(t *testing.T) {
	bombs := []struct {
		name, method string
		body         []byte
	}{
		{"xz-dictionary", "xz", xzDictBomb()},
		{"zstd-window", "zstd", zstdWindowBomb()},
		{"gzip-ratio", "gzip", ratioBomb(t, "gzip")},
		{"bzip2-ratio", "bzip2", ratioBomb(t, "bzip2")},
		{"br-ratio", "br", ratioBomb(t, "br")},
	}
	for _, b := range bombs {
		t.Run(b.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := Bytes(b.method, b.body, 1<<20)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrLimit) {
				t.Fatalf("Bytes: %v, want ErrLimit", err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Errorf("Bytes allocated %d MiB refusing a %d-byte bomb", alloc>>20, len(b.body))
			}
			t.Logf("Bytes refused in %v: %v", took, err)
			if !strings.HasSuffix(b.name, "ratio") {
				// The stream decoder refuses windows too; ratio bombs
				// are for its caller to bound (by NarSize).
				runtime.ReadMemStats(&before)
				_, err := decodeAll(t, b.method, b.body, false)
				runtime.ReadMemStats(&after)
				if !errors.Is(err, ErrLimit) {
					t.Fatalf("NewReader: %v, want ErrLimit", err)
				}
				if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
					t.Errorf("NewReader allocated %d MiB refusing a %d-byte bomb", alloc>>20, len(b.body))
				}
			}
		})
	}
}

// TestZstdLargeWindowSmallOutput: a narinfo compressed by zstd from a pipe
// names a window above 1 MiB (here 8 MiB); it is accepted, and decoding it
// costs about its output, not its window.
func TestZstdLargeWindowSmallOutput(t *testing.T) {
	text := []byte("StorePath: /nix/store/00000000000000000000000000000000-x\nURL: nar/x.nar\n")
	// One raw block in a frame naming an 8 MiB window, no content size.
	var b bytes.Buffer
	b.Write([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, (23 - 10) << 3})
	n := len(text)<<3 | 1
	b.Write([]byte{byte(n), byte(n >> 8), byte(n >> 16)})
	b.Write(text)
	var h zstd.Header
	if err := h.Decode(b.Bytes()); err != nil || h.WindowSize <= 1<<20 || h.HasFCS {
		t.Fatalf("test frame: window %d, content size known %v, %v", h.WindowSize, h.HasFCS, err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got, err := Bytes("zstd", b.Bytes(), 1<<20)
	runtime.ReadMemStats(&after)
	if err != nil || !bytes.Equal(got, text) {
		t.Fatalf("got %q, %v", got, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("decoding a %d-byte narinfo allocated %d MiB", len(text), alloc>>20)
	}
	// The CLI from a pipe, as a user would compress a narinfo.
	cli := compressCLI(t, text, "zstd", "-3", "-c")
	if got, err := Bytes("zstd", cli, 1<<20); err != nil || !bytes.Equal(got, text) {
		t.Fatalf("zstd -3 from a pipe: %q, %v", got, err)
	}
}

func TestUnsupported(t *testing.T) {
	for _, m := range []string{"lz4", "lzip", "compress"} {
		if Supported(m) {
			t.Errorf("Supported(%q)", m)
		}
		if _, err := NewReader(m, bytes.NewReader(nil)); !errors.Is(err, ErrUnsupported) {
			t.Errorf("NewReader(%q): %v", m, err)
		}
	}
}

// FuzzXz: any input is decoded or refused, without a panic, and never
// yields more than it could hold.
func FuzzXz(f *testing.F) {
	var b bytes.Buffer
	w, _ := xz.NewWriter(&b)
	w.Write([]byte("hello, hello, hello"))
	w.Close()
	f.Add(b.Bytes())
	f.Add(xzDictBomb())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := Bytes("xz", data, 1<<16)
		if err == nil && len(out) > 1<<16 {
			t.Fatalf("%d bytes out of a 64 KiB limit", len(out))
		}
		if r, err := NewReader("xz", bytes.NewReader(data)); err == nil {
			io.Copy(io.Discard, io.LimitReader(r, 1<<20))
		}
	})
}
