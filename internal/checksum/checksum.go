// Package checksum names the S3 additional checksum algorithms and builds
// their hashes.
package checksum

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"strings"
)

// Algorithm is an S3 checksum algorithm name as it appears in
// x-amz-checksum-algorithm / x-amz-sdk-checksum-algorithm.
type Algorithm string

// The algorithms S3 accepts.
const (
	CRC32     Algorithm = "CRC32"
	CRC32C    Algorithm = "CRC32C"
	CRC64NVME Algorithm = "CRC64NVME"
	SHA1      Algorithm = "SHA1"
	SHA256    Algorithm = "SHA256"
)

// All lists the algorithms in a fixed order.
var All = []Algorithm{CRC32, CRC32C, CRC64NVME, SHA1, SHA256}

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	nvme       = crc64.MakeTable(0x9a6c9329ac4bc9b5)
)

// Parse returns the algorithm named by s (any case), or an error.
func Parse(s string) (Algorithm, error) {
	a := Algorithm(strings.ToUpper(s))
	for _, k := range All {
		if a == k {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown checksum algorithm %q", s)
}

// FromHeader returns the algorithm whose x-amz-checksum-* header name is h
// (any case), or "" if h is not one.
func FromHeader(h string) Algorithm {
	h = strings.ToLower(h)
	name, ok := strings.CutPrefix(h, "x-amz-checksum-")
	if !ok {
		return ""
	}
	a, err := Parse(name)
	if err != nil {
		return ""
	}
	return a
}

// Header is the x-amz-checksum-* header carrying a's value.
func (a Algorithm) Header() string { return "x-amz-checksum-" + strings.ToLower(string(a)) }

// New returns a fresh hash for a. It panics on an unknown algorithm, which
// Parse rules out.
func (a Algorithm) New() hash.Hash {
	switch a {
	case CRC32:
		return crc32.NewIEEE()
	case CRC32C:
		return crc32.New(castagnoli)
	case CRC64NVME:
		return crc64.New(nvme)
	case SHA1:
		return sha1.New()
	case SHA256:
		return sha256.New()
	}
	panic("checksum: unknown algorithm " + string(a))
}

// Encode is the wire form of a checksum sum: standard base64.
func Encode(sum []byte) string { return base64.StdEncoding.EncodeToString(sum) }
