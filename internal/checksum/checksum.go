// Package checksum names the S3 additional checksum algorithms, builds
// their hashes, and derives a multipart object's checksum from its parts'
// (see CompositeOf and Combine).
package checksum

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
	"hash/crc32"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/minio/crc64nvme"
	"github.com/zeebo/xxh3"
)

// Algorithm is an S3 checksum algorithm name as it appears in
// x-amz-checksum-algorithm / x-amz-sdk-checksum-algorithm.
type Algorithm string

// The algorithms S3 accepts. MD5, SHA512 and the XXHASH family were added
// to the S3 API in April 2026 (aws-sdk-go-v2 service/s3 v1.100.0:
// "adds five additional checksum algorithms ... MD5, SHA-512, XXHash3,
// XXHash64, XXHash128"; PutObject's x-amz-sdk-checksum-algorithm lists
// them). XXHASH values are the canonical, big-endian digests, as for every
// other algorithm.
const (
	CRC32     Algorithm = "CRC32"
	CRC32C    Algorithm = "CRC32C"
	CRC64NVME Algorithm = "CRC64NVME"
	SHA1      Algorithm = "SHA1"
	SHA256    Algorithm = "SHA256"
	MD5       Algorithm = "MD5"
	SHA512    Algorithm = "SHA512"
	XXHASH64  Algorithm = "XXHASH64"
	XXHASH3   Algorithm = "XXHASH3"
	XXHASH128 Algorithm = "XXHASH128"
)

// Default is the algorithm S3 computes for an upload that names none:
// "if it was uploaded without a checksum ... Amazon S3 added the default
// checksum, CRC64NVME" (S3 API reference, PutObject ChecksumCRC64NVME).
const Default = CRC64NVME

// All lists the algorithms in a fixed order.
var All = []Algorithm{CRC32, CRC32C, CRC64NVME, SHA1, SHA256, MD5, SHA512, XXHASH64, XXHASH3, XXHASH128}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

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
		// minio's is the stdlib's CRC-64 with polynomial 0x9a6c9329ac4bc9b5
		// (the DESIGN's crc64.MakeTable), but carry-less multiplication makes
		// it fast enough to run on every PUT.
		return crc64nvme.New()
	case SHA1:
		return sha1.New()
	case SHA256:
		return sha256.New()
	case MD5:
		return md5.New()
	case SHA512:
		return sha512.New()
	case XXHASH64:
		return xxhash.New()
	case XXHASH3:
		return xxh3.New()
	case XXHASH128:
		return xxh3.New128()
	}
	panic("checksum: unknown algorithm " + string(a))
}

// Size is the length in bytes of a's digest.
func (a Algorithm) Size() int { return a.New().Size() }

// Valid reports whether v is the base64 of a digest of a's size: S3
// refuses other values before reading a body.
func (a Algorithm) Valid(v string) bool {
	b, err := base64.StdEncoding.DecodeString(v)
	return err == nil && len(b) == a.Size()
}

// Encode is the wire form of a checksum sum: standard base64.
func Encode(sum []byte) string { return base64.StdEncoding.EncodeToString(sum) }

// Type says how a multipart object's checksum derives from its parts'.
type Type string

// The checksum types of x-amz-checksum-type.
const (
	// FullObject is the checksum of the object's bytes: always for a
	// single PUT; for a multipart upload only with a CRC, combined from
	// the parts' CRCs.
	FullObject Type = "FULL_OBJECT"
	// Composite is the checksum of the parts' checksums, with "-N" for N
	// parts appended.
	Composite Type = "COMPOSITE"
)

// ParseType returns the type named by s (any case), or an error.
func ParseType(s string) (Type, error) {
	switch t := Type(strings.ToUpper(s)); t {
	case FullObject, Composite:
		return t, nil
	}
	return "", fmt.Errorf("unknown checksum type %q", s)
}

// Allows reports whether a multipart upload may use a with type t. A
// FULL_OBJECT checksum must be computable from the parts' checksums and
// sizes alone, which only CRCs allow; CRC64NVME is FULL_OBJECT only (AWS,
// "Checking object integrity": "CRC-64/NVME ... supports the full object
// checksum type only").
func (a Algorithm) Allows(t Type) bool {
	if t == FullObject {
		return crcs[a].width > 0
	}
	return a != CRC64NVME
}

// DefaultType is the type of a multipart upload that names algorithm a
// and no type: FULL_OBJECT for CRC64NVME, COMPOSITE for the others.
func (a Algorithm) DefaultType() Type {
	if a == CRC64NVME {
		return FullObject
	}
	return Composite
}

// TypeOf is the type of a stored checksum value: composite values end in
// "-N", the part count.
func TypeOf(value string) Type {
	if i := strings.LastIndexByte(value, '-'); i > 0 && i < len(value)-1 {
		return Composite
	}
	return FullObject
}
