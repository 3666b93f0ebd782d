package codec

import (
	"bytes"
	"errors"
	"testing"
)

func TestWriterRoundTrip(t *testing.T) {
	data := sample(3<<20 + 17)
	for _, method := range []string{"gzip", "x-gzip", "br", "zstd", "ZSTD"} {
		for _, o := range []WriterOptions{{Level: -1}, {Level: 0}, {Level: 1}, {Level: 9}, {Level: 3, Parallel: true}} {
			var b bytes.Buffer
			w, err := NewWriter(method, &b, o)
			if err != nil {
				t.Fatalf("NewWriter(%s, %+v): %v", method, o, err)
			}
			for off := 0; off < len(data); off += 70001 {
				if _, err := w.Write(data[off:min(off+70001, len(data))]); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := Bytes(method, b.Bytes(), int64(len(data)))
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("%s %+v: round trip: %v, %d of %d bytes", method, o, err, len(got), len(data))
			}
			if o.Level != 0 && b.Len() >= len(data) { // gzip 0 stores
				t.Errorf("%s %+v: %d bytes compressed to %d", method, o, len(data), b.Len())
			}
		}
	}
}

func TestEncode(t *testing.T) {
	doc := []byte("StorePath: /nix/store/00000000000000000000000000000000-x\nURL: nar/x.nar\n")
	for _, m := range []string{"gzip", "br", "zstd", "", "none", "identity"} {
		enc, err := Encode(m, doc)
		if err != nil {
			t.Fatalf("Encode(%q): %v", m, err)
		}
		if got, err := Bytes(m, enc, 1<<10); err != nil || !bytes.Equal(got, doc) {
			t.Errorf("Encode(%q) does not round-trip: %v", m, err)
		}
	}
	for _, m := range []string{"xz", "bzip2", "lz4"} {
		if _, err := Encode(m, doc); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Encode(%q) = %v, want ErrUnsupported", m, err)
		}
	}
}

// TestZstdFrame checks that zstd frames carry no content checksum, as
// Nix's (libzstd's default) do not: the server's narinfos and push's NARs
// come from the same encoder.
func TestZstdFrame(t *testing.T) {
	for _, parallel := range []bool{false, true} {
		var b bytes.Buffer
		w, err := NewWriter("zstd", &b, WriterOptions{Level: -1, Parallel: parallel})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(sample(1 << 20))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		out := b.Bytes()
		if len(out) < 6 || !bytes.Equal(out[:4], []byte{0x28, 0xb5, 0x2f, 0xfd}) {
			t.Fatalf("parallel %v: not a zstd frame: % x", parallel, out[:min(len(out), 6)])
		}
		if desc := out[4]; desc&0x04 != 0 {
			t.Errorf("parallel %v: frame header descriptor %#x has the content checksum flag", parallel, desc)
		}
	}
}
