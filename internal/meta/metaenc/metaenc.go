// Package metaenc is the compact binary encoding the metadata stores use
// for an object's rarely queried fields, its segment list and string lists
// (a narinfo's references and signatures): one format, whichever store
// keeps the bytes.
package metaenc

import (
	"encoding/binary"
	"errors"
	"maps"
	"math"
	"slices"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// An object's rarely queried fields and its segment list are stored as two
// compact binary columns rather than a dozen: every column costs
// allocations on each Object call, the hot path of every GET, and decoding
// one blob makes one string allocation for all its strings.
//
// attrs, version 1:
//
//	0x01, then as strings (uvarint length, bytes): Content-Type,
//	Content-Encoding, Content-Disposition, Content-Language, Cache-Control,
//	Expires, checksum algorithm, checksum, SHA-256; then uvarint parts
//	count, uvarint number of user metadata entries, and that many
//	name, value string pairs in name order.
//
// segments, version 1:
//
//	0x01, uvarint count, then per segment: string blob ID, varint size,
//	and for an inline segment (empty blob ID) the string of its bytes.
//
// A list of strings (a narinfo's references or signatures), version 1:
//
//	0x01, uvarint count, then that many strings.
const (
	attrsV1    = 0x01
	segmentsV1 = 0x01
	stringsV1  = 0x01
)

var (
	errAttrs    = errors.New("corrupt object attributes")
	errSegments = errors.New("corrupt segment list")
	errStrings  = errors.New("corrupt string list")
)

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// EncodeAttrs encodes the fields of o that live in the attrs column.
func EncodeAttrs(o *meta.Object) []byte {
	h := &o.Headers
	b := make([]byte, 0, 64)
	b = append(b, attrsV1)
	for _, s := range []string{h.ContentType, h.ContentEncoding, h.ContentDisposition,
		h.ContentLanguage, h.CacheControl, h.Expires, o.ChecksumAlgorithm, o.Checksum, string(o.SHA256)} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(o.PartsCount))
	b = binary.AppendUvarint(b, uint64(len(h.UserMeta)))
	for _, k := range slices.Sorted(maps.Keys(h.UserMeta)) {
		b = appendString(b, k)
		b = appendString(b, h.UserMeta[k])
	}
	return b
}

// DecodeAttrs sets the fields of o that live in the attrs column. The
// strings it sets share b's memory.
func DecodeAttrs(b string, o *meta.Object) error {
	if len(b) == 0 || b[0] != attrsV1 {
		return errAttrs
	}
	d := decoder{s: b, i: 1}
	h := &o.Headers
	for _, p := range []*string{&h.ContentType, &h.ContentEncoding, &h.ContentDisposition,
		&h.ContentLanguage, &h.CacheControl, &h.Expires, &o.ChecksumAlgorithm, &o.Checksum} {
		*p = d.str()
	}
	o.SHA256 = nil
	if sum := d.str(); sum != "" {
		o.SHA256 = []byte(sum)
	}
	parts := d.uvarint()
	o.PartsCount = int(parts)
	n := d.uvarint()
	h.UserMeta = nil
	if n > 0 && n <= uint64(len(b)) { // each entry takes ≥ 2 bytes
		h.UserMeta = make(map[string]string, n)
		for range n {
			k := d.str()
			h.UserMeta[k] = d.str()
		}
	}
	if d.bad || n > uint64(len(b)) || parts > math.MaxInt32 || d.i != len(b) {
		return errAttrs
	}
	return nil
}

// EncodeSegments encodes a segment list (segments, version 1).
func EncodeSegments(segs []meta.Segment) []byte {
	n := 1 + binary.MaxVarintLen64
	for _, s := range segs {
		n += 3*binary.MaxVarintLen64 + len(s.Blob) + len(s.Data)
	}
	b := make([]byte, 0, n)
	b = append(b, segmentsV1)
	b = binary.AppendUvarint(b, uint64(len(segs)))
	for _, s := range segs {
		b = appendString(b, s.Blob)
		b = binary.AppendVarint(b, s.Size)
		if s.Inline() {
			b = appendString(b, string(s.Data))
		}
	}
	return b
}

// DecodeSegments decodes a segment list; inline segments share b's memory.
func DecodeSegments(b string) ([]meta.Segment, error) {
	if len(b) == 0 || b[0] != segmentsV1 {
		return nil, errSegments
	}
	d := decoder{s: b, i: 1}
	count := d.uvarint()
	if d.bad || count > uint64(len(b)) { // each segment takes ≥ 2 bytes
		return nil, errSegments
	}
	var segs []meta.Segment
	if count > 0 {
		segs = make([]meta.Segment, count)
	}
	for k := range segs {
		segs[k].Blob = d.str()
		segs[k].Size = d.varint()
		if segs[k].Inline() {
			data := d.str()
			if int64(len(data)) != segs[k].Size {
				d.bad = true
			}
			segs[k].Data = []byte(data)
		}
	}
	if d.bad || d.i != len(b) {
		return nil, errSegments
	}
	return segs, nil
}

// EncodeStrings encodes a list of strings (version 1).
func EncodeStrings(ss []string) []byte {
	n := 1 + binary.MaxVarintLen64
	for _, s := range ss {
		n += binary.MaxVarintLen64 + len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, stringsV1)
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

// DecodeStrings decodes a list of strings, nil for an empty one. The
// strings share b's memory.
func DecodeStrings(b string) ([]string, error) {
	if len(b) == 0 || b[0] != stringsV1 {
		return nil, errStrings
	}
	d := decoder{s: b, i: 1}
	count := d.uvarint()
	if d.bad || count > uint64(len(b)) { // each string takes ≥ 1 byte
		return nil, errStrings
	}
	var ss []string
	if count > 0 {
		ss = make([]string, count)
	}
	for k := range ss {
		ss[k] = d.str()
	}
	if d.bad || d.i != len(b) {
		return nil, errStrings
	}
	return ss, nil
}

// decoder reads varints and strings from s. Decoded strings are
// substrings of s, so they share its one allocation. After an error it
// returns zero values and sets bad.
type decoder struct {
	s   string
	i   int
	bad bool
}

// uvarint decodes like binary.Uvarint.
func (d *decoder) uvarint() uint64 {
	var x uint64
	var shift uint
	for k := 0; !d.bad && k < binary.MaxVarintLen64 && d.i < len(d.s); k++ {
		c := d.s[d.i]
		d.i++
		if c < 0x80 {
			if k == binary.MaxVarintLen64-1 && c > 1 {
				break // overflows 64 bits
			}
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	d.bad = true
	return 0
}

// varint decodes like binary.Varint.
func (d *decoder) varint() int64 {
	ux := d.uvarint()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (d *decoder) str() string {
	l := d.uvarint()
	if d.bad || l > uint64(len(d.s)-d.i) {
		d.bad = true
		return ""
	}
	s := d.s[d.i : d.i+int(l)]
	d.i += int(l)
	return s
}
