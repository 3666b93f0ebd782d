// Package nixbase32 implements Nix's base-32 encoding.
//
// Nix's base 32 differs from RFC 4648 in its alphabet
// (0123456789abcdfghijklmnpqrsvwxyz: no e, o, u or t) and in its bit order:
// the last character of the string carries the lowest five bits of the first
// byte, so a string is the little-endian number read from the end. There is no
// padding. A SHA-256 digest encodes to 52 characters, a store path's 20-byte
// hash part to 32.
package nixbase32

import (
	"errors"
	"fmt"
)

// Alphabet is the set of Nix base-32 digits in value order.
const Alphabet = "0123456789abcdfghijklmnpqrsvwxyz"

// invalid marks a byte that is not a Nix base-32 digit in decodeMap.
const invalid = 0xff

var decodeMap = func() (m [256]byte) {
	for i := range m {
		m[i] = invalid
	}
	for i := 0; i < len(Alphabet); i++ {
		m[Alphabet[i]] = byte(i)
	}
	return m
}()

// EncodedLen returns the length of the encoding of n bytes.
func EncodedLen(n int) int {
	if n <= 0 {
		return 0
	}
	return (n*8-1)/5 + 1
}

// DecodedLen returns the number of bytes that an encoding of n characters
// holds. Not every n is the EncodedLen of some length: Decode rejects
// those.
func DecodedLen(n int) int {
	return n * 5 / 8
}

// Encode writes the encoding of src to dst, which must have room for
// EncodedLen(len(src)) bytes.
func Encode(dst, src []byte) {
	n := EncodedLen(len(src))
	for i := 0; i < n; i++ {
		b := (n - 1 - i) * 5
		j, k := b/8, uint(b%8)
		c := src[j] >> k
		if j+1 < len(src) {
			c |= src[j+1] << (8 - k)
		}
		dst[i] = Alphabet[c&0x1f]
	}
}

// EncodeToString returns the Nix base-32 encoding of src.
func EncodeToString(src []byte) string {
	dst := make([]byte, EncodedLen(len(src)))
	Encode(dst, src)
	return string(dst)
}

// ErrLength reports a string whose length is not the encoding of a whole
// number of bytes.
var ErrLength = errors.New("nixbase32: invalid length")

// Decode decodes src into dst, which must have room for DecodedLen(len(src))
// bytes, and returns the number of bytes written.
func Decode(dst, src []byte) (int, error) {
	n := DecodedLen(len(src))
	if EncodedLen(n) != len(src) {
		return 0, fmt.Errorf("%w %d", ErrLength, len(src))
	}
	clear(dst[:n])
	for i := 0; i < len(src); i++ {
		c := src[len(src)-1-i]
		d := decodeMap[c]
		if d == invalid {
			return 0, fmt.Errorf("nixbase32: invalid character %q at offset %d", c, len(src)-1-i)
		}
		b := i * 5
		j, k := b/8, uint(b%8)
		dst[j] |= d << k
		carry := d >> (8 - k)
		if j+1 < n {
			dst[j+1] |= carry
		} else if carry != 0 {
			return 0, fmt.Errorf("nixbase32: non-zero padding bits in %q", src[0])
		}
	}
	return n, nil
}

// ValidateString reports whether s is a valid encoding: a decodable length,
// only alphabet characters, and zero unused high bits. It does not allocate.
func ValidateString(s string) error {
	n := DecodedLen(len(s))
	if EncodedLen(n) != len(s) {
		return fmt.Errorf("%w %d", ErrLength, len(s))
	}
	for i := 0; i < len(s); i++ {
		if decodeMap[s[i]] == invalid {
			return fmt.Errorf("nixbase32: invalid character %q at offset %d", s[i], i)
		}
	}
	// Only the first character can carry bits past the last byte.
	if len(s) > 0 {
		used := 8*n - 5*(len(s)-1) // bits of the first character that fall inside the value
		if decodeMap[s[0]]>>uint(used) != 0 {
			return fmt.Errorf("nixbase32: non-zero padding bits in %q", s[0])
		}
	}
	return nil
}
