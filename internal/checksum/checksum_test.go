package checksum

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func sum(a Algorithm, b []byte) string {
	h := a.New()
	h.Write(b)
	return Encode(h.Sum(nil))
}

// Known answers from the AWS SDKs' test suites and the algorithms'
// reference vectors, so that a wrong polynomial or byte order fails here
// and not only against a client.
func TestKnownValues(t *testing.T) {
	for _, c := range []struct {
		a        Algorithm
		in, want string
	}{
		{CRC32, "Hello world", "i9aeUg=="},
		{CRC32C, "Hello world", "crUfeA=="},
		{CRC64NVME, "Hello world", "OOJZ0D8xKts="},
		{SHA1, "Hello world", "e1AsOh9IyGCa4hLN+2Od7jlnP14="},
		{SHA256, "Hello world", "ZOyIygCyaOW6GjVnihtTFtIS9PNmskdyMlNKiuyjfzw="},
		{CRC64NVME, "", "AAAAAAAAAAA="},
		{XXHASH64, "", "70bbN1HY6Zk="}, // XXH64("") = ef46db3751d8e999
		{XXHASH3, "", "LQaABTjTlMI="},  // XXH3_64("") = 2d06800538d394c2
	} {
		if got := sum(c.a, []byte(c.in)); got != c.want {
			t.Errorf("%s(%q) = %s, want %s", c.a, c.in, got, c.want)
		}
	}
}

func TestCombine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 3<<20+17)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	for _, a := range []Algorithm{CRC32, CRC32C, CRC64NVME} {
		for _, cuts := range [][]int{{}, {1}, {5 << 10, 1 << 20}, {0, 0, 1 << 20}, {len(data) - 1}} {
			var parts []Part
			prev := 0
			for _, c := range append(cuts, len(data)) {
				parts = append(parts, Part{Sum: sum(a, data[prev:c]), Size: int64(c - prev)})
				prev = c
			}
			got, err := Combine(a, parts)
			if err != nil {
				t.Fatal(err)
			}
			if want := sum(a, data); got != want {
				t.Errorf("%s over cuts %v: combined %s, whole %s", a, cuts, got, want)
			}
		}
	}
	if _, err := Combine(SHA256, []Part{{Sum: sum(SHA256, nil)}}); err == nil {
		t.Error("SHA256 combined")
	}
	if _, err := Combine(CRC32, []Part{{Sum: "bad"}}); err == nil {
		t.Error("bad part checksum combined")
	}
}

func TestComposite(t *testing.T) {
	a, b := []byte("first part"), []byte("second")
	parts := []Part{{Sum: sum(SHA256, a)}, {Sum: sum(SHA256, b)}}
	got, err := CompositeOf(SHA256, parts)
	if err != nil {
		t.Fatal(err)
	}
	h := SHA256.New()
	for _, p := range [][]byte{a, b} {
		s := SHA256.New()
		s.Write(p)
		h.Write(s.Sum(nil))
	}
	if want := Encode(h.Sum(nil)) + "-2"; got != want {
		t.Errorf("composite = %s, want %s", got, want)
	}
	if TypeOf(got) != Composite || TypeOf(sum(CRC32, a)) != FullObject {
		t.Error("TypeOf does not tell composite from full-object values")
	}
}

func TestAllows(t *testing.T) {
	for _, c := range []struct {
		a    Algorithm
		t    Type
		want bool
	}{
		{CRC64NVME, FullObject, true}, {CRC64NVME, Composite, false},
		{CRC32, FullObject, true}, {CRC32C, Composite, true},
		{SHA256, FullObject, false}, {SHA1, Composite, true},
		{XXHASH64, FullObject, false}, {XXHASH128, Composite, true},
	} {
		if got := c.a.Allows(c.t); got != c.want {
			t.Errorf("%s allows %s = %v", c.a, c.t, got)
		}
	}
}

func TestParseAndValid(t *testing.T) {
	for _, a := range All {
		got, err := Parse(string(bytes.ToLower([]byte(a))))
		if err != nil || got != a {
			t.Errorf("Parse(%s) = %s, %v", a, got, err)
		}
		if !a.Valid(sum(a, []byte("x"))) || a.Valid("AAAA") {
			t.Errorf("%s: Valid wrong", a)
		}
	}
	if _, err := Parse("CRC16"); err == nil {
		t.Error("CRC16 parsed")
	}
}
