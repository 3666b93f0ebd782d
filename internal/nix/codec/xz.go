package codec

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// The xz container (https://tukaani.org/xz/xz-file-format.txt) is read
// here rather than by github.com/ulikunitz/xz, whose reader allocates the
// dictionary each block header names (up to 4 GiB) before reading a byte
// of data: only the LZMA2 chunks are left to its lzma package, once the
// block's dictionary size has been checked.

var (
	xzMagic     = []byte{0xfd, '7', 'z', 'X', 'Z', 0}
	xzFootMagic = []byte{'Y', 'Z'}
	crc64Table  = crc64.MakeTable(crc64.ECMA)
)

const lzma2Filter = 0x21

type xzRecord struct{ unpadded, uncompressed int64 }

// xzReader decodes a sequence of xz streams, with stream padding.
type xzReader struct {
	r     *bufio.Reader
	alloc int // the largest dictionary allocated; larger ones fit MaxWindow

	inStream bool
	streams  int
	flags    [2]byte
	check    byte
	records  []xzRecord

	// The current block, if block is non-nil.
	block        io.Reader
	counted      counter
	hdrLen       int
	hash         hash.Hash
	compSize     int64 // from the block header, or -1
	uncompSize   int64 // from the block header, or -1
	uncompressed int64

	err error
}

// counter counts the bytes read through it.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ReadByte lets lzma read one byte without a Read call per byte.
func (c *counter) ReadByte() (byte, error) {
	b, err := c.r.(io.ByteReader).ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// newXz reads the first stream header and the first block header of r, so
// that a dictionary above MaxWindow is refused before anything is
// allocated. Dictionaries are allocated no larger than alloc bytes (when
// the output is known to be smaller, a smaller one suffices).
func newXz(r io.Reader, alloc int) (*xzReader, error) {
	x := &xzReader{r: bufio.NewReaderSize(r, 64<<10), alloc: max(alloc, lzma.MinDictCap)}
	if err := x.next(); err != nil && err != io.EOF {
		return nil, err
	} else if err == io.EOF {
		x.err = io.EOF
	}
	return x, nil
}

func xzError(format string, args ...any) error {
	return fmt.Errorf("xz: "+format, args...)
}

func (x *xzReader) Close() error { return nil }

func (x *xzReader) Read(p []byte) (int, error) {
	for {
		if x.err != nil {
			return 0, x.err
		}
		if x.block == nil {
			if x.err = x.next(); x.err != nil {
				continue
			}
		}
		n, err := x.block.Read(p)
		if n > 0 {
			x.hash.Write(p[:n])
			x.uncompressed += int64(n)
			if x.uncompSize >= 0 && x.uncompressed > x.uncompSize {
				x.err = xzError("block larger than its header says")
				return 0, x.err
			}
		}
		if err == io.EOF {
			if err = x.endBlock(); err == nil {
				x.block = nil
			}
		} else if err == io.ErrUnexpectedEOF {
			err = xzError("truncated: %w", err)
		} else if err != nil {
			err = xzError("%w", err)
		}
		if err != nil {
			x.err = err
			if n == 0 {
				return 0, err
			}
		}
		if n > 0 {
			return n, nil
		}
	}
}

// next reads up to the next block's data: stream headers and padding,
// indexes and footers on the way. It returns io.EOF at the end of input.
func (x *xzReader) next() error {
	for {
		if !x.inStream {
			if err := x.streamHeader(); err != nil {
				return err
			}
			continue
		}
		size, err := x.r.ReadByte()
		if err != nil {
			return xzError("truncated: %w", io.ErrUnexpectedEOF)
		}
		if size == 0 {
			if err := x.indexAndFooter(); err != nil {
				return err
			}
			x.inStream = false
			continue
		}
		return x.blockHeader(int(size)*4 + 4)
	}
}

// streamHeader reads stream padding and a stream header; io.EOF at the
// end of the input after at least one stream.
func (x *xzReader) streamHeader() error {
	var h [12]byte
	for {
		n, err := io.ReadFull(x.r, h[:4])
		if n == 0 && err == io.EOF && x.streams > 0 {
			return io.EOF
		}
		if err != nil {
			return xzError("truncated stream header: %w", io.ErrUnexpectedEOF)
		}
		if x.streams > 0 && bytes.Equal(h[:4], []byte{0, 0, 0, 0}) {
			continue // stream padding
		}
		break
	}
	if _, err := io.ReadFull(x.r, h[4:]); err != nil {
		return xzError("truncated stream header: %w", io.ErrUnexpectedEOF)
	}
	if !bytes.Equal(h[:6], xzMagic) {
		return xzError("not an xz stream")
	}
	if crc32.ChecksumIEEE(h[6:8]) != binary.LittleEndian.Uint32(h[8:]) {
		return xzError("stream header checksum mismatch")
	}
	if h[6] != 0 || h[7]&0xf0 != 0 {
		return xzError("unsupported stream flags %#x %#x", h[6], h[7])
	}
	switch h[7] {
	case 0x00, 0x01, 0x04, 0x0a:
	default:
		return xzError("unsupported check type %#x", h[7])
	}
	x.flags = [2]byte{h[6], h[7]}
	x.check = h[7]
	x.records = x.records[:0]
	x.inStream = true
	x.streams++
	return nil
}

func (x *xzReader) newHash() hash.Hash {
	switch x.check {
	case 0x01:
		return crc32.NewIEEE()
	case 0x04:
		return crc64.New(crc64Table)
	case 0x0a:
		return sha256.New()
	}
	return nopHash{}
}

// blockHeader reads the rest of a block header of size bytes (its first
// byte was read), checks its single LZMA2 filter's dictionary against
// MaxWindow, and starts the block's decoder.
func (x *xzReader) blockHeader(size int) error {
	h := make([]byte, size)
	h[0] = byte(size/4 - 1)
	if _, err := io.ReadFull(x.r, h[1:]); err != nil {
		return xzError("truncated block header: %w", io.ErrUnexpectedEOF)
	}
	if crc32.ChecksumIEEE(h[:size-4]) != binary.LittleEndian.Uint32(h[size-4:]) {
		return xzError("block header checksum mismatch")
	}
	flags := h[1]
	if flags&0x3c != 0 {
		return xzError("unsupported block flags %#x", flags)
	}
	if flags&0x03 != 0 {
		return xzError("only the LZMA2 filter alone is supported, the block has %d filters", flags&0x03+1)
	}
	rest := bytes.NewReader(h[2 : size-4])
	x.compSize, x.uncompSize = -1, -1
	var err error
	if flags&0x40 != 0 {
		if x.compSize, err = varint(rest); err != nil || x.compSize == 0 {
			return xzError("bad compressed size in block header")
		}
	}
	if flags&0x80 != 0 {
		if x.uncompSize, err = varint(rest); err != nil {
			return xzError("bad uncompressed size in block header")
		}
	}
	id, err := varint(rest)
	if err != nil {
		return xzError("bad filter flags")
	}
	if id != lzma2Filter {
		return xzError("unsupported filter %#x", id)
	}
	if n, err := varint(rest); err != nil || n != 1 {
		return xzError("bad LZMA2 filter properties")
	}
	prop, err := rest.ReadByte()
	if err != nil {
		return xzError("bad LZMA2 filter properties")
	}
	dict, err := lzma.DecodeDictCap(prop)
	if err != nil {
		return xzError("%v", err)
	}
	if dict > MaxWindow {
		return xzError("%w: dictionary of %d bytes, above %d", ErrLimit, dict, MaxWindow)
	}
	for rest.Len() > 0 {
		if b, _ := rest.ReadByte(); b != 0 {
			return xzError("non-zero block header padding")
		}
	}
	x.hdrLen = size
	x.counted = counter{r: x.r}
	x.hash = x.newHash()
	x.uncompressed = 0
	// The LZMA2 chunks never reach back further than the dictionary nor
	// than the output so far, so a dictionary of min(dict, alloc) is
	// enough when the output is known to stay within alloc.
	lr, err := lzma.Reader2Config{DictCap: int(min(max(dict, lzma.MinDictCap), int64(x.alloc)))}.NewReader2(&x.counted)
	if err != nil {
		return xzError("%v", err)
	}
	x.block = lr
	return nil
}

// endBlock reads the block padding and check after the LZMA2 data.
func (x *xzReader) endBlock() error {
	comp := x.counted.n
	if x.compSize >= 0 && comp != x.compSize || x.uncompSize >= 0 && x.uncompressed != x.uncompSize {
		return xzError("block sizes differ from its header")
	}
	var pad [3]byte
	k := int((4 - comp%4) % 4)
	if _, err := io.ReadFull(x.r, pad[:k]); err != nil {
		return xzError("truncated block: %w", io.ErrUnexpectedEOF)
	}
	if pad != [3]byte{} {
		return xzError("non-zero block padding")
	}
	sum := x.hash.Sum(nil)
	got := make([]byte, len(sum))
	if _, err := io.ReadFull(x.r, got); err != nil {
		return xzError("truncated block: %w", io.ErrUnexpectedEOF)
	}
	if x.check == 0x01 || x.check == 0x04 {
		// CRCs are stored little-endian; hash.Hash sums are big-endian.
		for i, j := 0, len(sum)-1; i < j; i, j = i+1, j-1 {
			sum[i], sum[j] = sum[j], sum[i]
		}
	}
	if !bytes.Equal(sum, got) {
		return xzError("block check mismatch: the data is corrupt")
	}
	x.records = append(x.records, xzRecord{int64(x.hdrLen) + comp + int64(len(sum)), x.uncompressed})
	return nil
}

// indexAndFooter reads an index (its indicator byte was read), checks it
// against the blocks read, and reads the stream footer.
func (x *xzReader) indexAndFooter() error {
	h := crc32.NewIEEE()
	h.Write([]byte{0})
	tr := &teeByteReader{r: x.r, w: h, n: 1}
	n, err := varint(tr)
	if err != nil || n != int64(len(x.records)) {
		return xzError("index does not match the blocks")
	}
	for _, rec := range x.records {
		u, err1 := varint(tr)
		c, err2 := varint(tr)
		if err1 != nil || err2 != nil || u != rec.unpadded || c != rec.uncompressed {
			return xzError("index does not match the blocks")
		}
	}
	for tr.n%4 != 0 {
		if b, err := tr.ReadByte(); err != nil || b != 0 {
			return xzError("bad index padding")
		}
	}
	size := tr.n
	var tail [16]byte
	if _, err := io.ReadFull(x.r, tail[:]); err != nil {
		return xzError("truncated index or footer: %w", io.ErrUnexpectedEOF)
	}
	if binary.LittleEndian.Uint32(tail[:4]) != h.Sum32() {
		return xzError("index checksum mismatch")
	}
	foot := tail[4:]
	if crc32.ChecksumIEEE(foot[4:10]) != binary.LittleEndian.Uint32(foot[:4]) {
		return xzError("stream footer checksum mismatch")
	}
	if !bytes.Equal(foot[10:], xzFootMagic) || foot[8] != x.flags[0] || foot[9] != x.flags[1] {
		return xzError("bad stream footer")
	}
	if (int64(binary.LittleEndian.Uint32(foot[4:8]))+1)*4 != size+4 {
		return xzError("stream footer's index size is wrong")
	}
	return nil
}

// teeByteReader reads bytes, feeding them to w and counting them.
type teeByteReader struct {
	r io.ByteReader
	w io.Writer
	n int64
}

func (t *teeByteReader) ReadByte() (byte, error) {
	b, err := t.r.ReadByte()
	if err == nil {
		t.w.Write([]byte{b})
		t.n++
	}
	return b, err
}

// varint reads an xz multibyte integer.
func varint(r io.ByteReader) (int64, error) {
	var v uint64
	for i := 0; i < 9; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			if b == 0 && i > 0 {
				return 0, errors.New("non-minimal integer")
			}
			if v > 1<<62 {
				return 0, errors.New("integer too large")
			}
			return int64(v), nil
		}
	}
	return 0, errors.New("integer too long")
}

type nopHash struct{}

func (nopHash) Write(p []byte) (int, error) { return len(p), nil }
func (nopHash) Sum(b []byte) []byte         { return b }
func (nopHash) Reset()                      {}
func (nopHash) Size() int                   { return 0 }
func (nopHash) BlockSize() int              { return 1 }
