package checksum

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
)

// Part is one part's checksum, base64 as on the wire, and its size.
type Part struct {
	Sum  string
	Size int64
}

// CompositeOf is the COMPOSITE checksum of a multipart object: a's checksum
// of the concatenated binary checksums of its parts, then "-" and the part
// count (AWS, "Checking object integrity", "Using part-level checksums for
// multipart uploads").
func CompositeOf(a Algorithm, parts []Part) (string, error) {
	h := a.New()
	for i, p := range parts {
		b, err := base64.StdEncoding.DecodeString(p.Sum)
		if err != nil || len(b) != h.Size() {
			return "", fmt.Errorf("part %d: %s checksum %q is not valid", i+1, a, p.Sum)
		}
		h.Write(b)
	}
	return Encode(h.Sum(nil)) + "-" + strconv.Itoa(len(parts)), nil
}

// crc describes a reflected CRC whose initial value and final XOR are all
// ones, as CRC-32, CRC-32C and CRC-64/NVME are: for those
// crc(A‖B) = crc(A)·x^(8|B|) mod P ⊕ crc(B), so a whole object's CRC
// follows from its parts' CRCs and sizes without reading a byte.
type crc struct {
	width uint   // 32 or 64
	poly  uint64 // reflected polynomial
	x2n   *[64]uint64
}

var crcs = map[Algorithm]crc{
	CRC32:     newCRC(32, 0xedb88320),
	CRC32C:    newCRC(32, 0x82f63b78),
	CRC64NVME: newCRC(64, 0x9a6c9329ac4bc9b5),
}

func newCRC(width uint, poly uint64) crc {
	c := crc{width: width, poly: poly, x2n: new([64]uint64)}
	// x2n[k] = x^(2^k) mod P; x^1 is the second-highest bit when
	// reflected.
	c.x2n[0] = 1 << (width - 2)
	for k := 1; k < len(c.x2n); k++ {
		c.x2n[k] = c.mult(c.x2n[k-1], c.x2n[k-1])
	}
	return c
}

// mult returns a·b mod P, reflected (zlib's multmodp).
func (c crc) mult(a, b uint64) uint64 {
	var p uint64
	for m := uint64(1) << (c.width - 1); m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
			if a&(m-1) == 0 {
				break
			}
		}
		if b&1 != 0 {
			b = b>>1 ^ c.poly
		} else {
			b >>= 1
		}
	}
	return p
}

// shift returns x^(8n) mod P: appending n bytes multiplies by it.
func (c crc) shift(n int64) uint64 {
	p := uint64(1) << (c.width - 1) // x^0
	for k := 3; n != 0; k++ {       // 8n = n·2^3
		if n&1 != 0 {
			p = c.mult(c.x2n[k], p)
		}
		n >>= 1
	}
	return p
}

// Combine is the FULL_OBJECT checksum of a multipart object: the CRC a
// (CRC32, CRC32C or CRC64NVME) of the concatenated parts, computed from
// the parts' CRCs and sizes.
func Combine(a Algorithm, parts []Part) (string, error) {
	c, ok := crcs[a]
	if !ok {
		return "", fmt.Errorf("a %s checksum cannot be combined from parts", a)
	}
	n := int(c.width / 8)
	var sum uint64
	for i, p := range parts {
		b, err := base64.StdEncoding.DecodeString(p.Sum)
		if err != nil || len(b) != n {
			return "", fmt.Errorf("part %d: %s checksum %q is not valid", i+1, a, p.Sum)
		}
		v := uint64(binary.BigEndian.Uint32(b[len(b)-4:]))
		if n == 8 {
			v = binary.BigEndian.Uint64(b)
		}
		if i == 0 {
			sum = v
			continue
		}
		sum = c.mult(c.shift(p.Size), sum) ^ v
	}
	out := binary.BigEndian.AppendUint64(nil, sum)
	return Encode(out[8-n:]), nil
}
