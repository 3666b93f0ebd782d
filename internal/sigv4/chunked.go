package sigv4

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"net/textproto"
)

const (
	maxChunkLine   = 4 << 10  // a chunk header or trailer line
	maxTrailerSize = 16 << 10 // all trailer lines together
	maxChunkSize   = 5 << 30  // S3's largest single PUT
	maxTrailerJunk = 4        // CR/LF bytes tolerated after the final blank line
	chunkBufSize   = 32 << 10
)

// chunkParams configures an aws-chunked decoder.
type chunkParams struct {
	signed   bool              // chunks carry chunk-signature=…, which are checked
	trailer  bool              // the mode ends with trailers (signed modes: plus x-amz-trailer-signature)
	key      [sha256.Size]byte // signing key
	amzDate  string            // request time, as in the seed string to sign
	scope    string            // DATE/REGION/s3/aws4_request
	seed     [sha256.Size]byte // the request's signature, chaining the first chunk
	declared int64             // x-amz-decoded-content-length, -1 when unknown
	expect   []string          // trailer names x-amz-trailer declares; each must arrive
}

// chunkedReader decodes an aws-chunked body:
//
//	hex-size[;chunk-signature=sig][;ext…]\r\n data \r\n … 0[;…]\r\n trailers \r\n
//
// It checks each chunk's signature when its data has been read (signed
// modes), the decoded length, and the trailer signature; every failure is a
// sticky *Error.
type chunkedReader struct {
	br       *bufio.Reader
	p        chunkParams
	prev     [sha256.Size]byte // signature of the previous chunk (the seed first)
	want     [sha256.Size]byte // signature the current chunk claims
	h        hash.Hash         // SHA-256 of the current chunk's data
	left     int64             // data bytes left in the current chunk
	total    int64             // decoded bytes announced so far
	err      error
	trailers http.Header
	sts      []byte // scratch for strings to sign
}

func newChunkedReader(r io.Reader, p chunkParams) *chunkedReader {
	c := &chunkedReader{br: bufio.NewReaderSize(r, chunkBufSize), p: p, prev: p.seed}
	if p.signed {
		c.h = sha256.New()
	}
	return c
}

func (c *chunkedReader) trailerHeader() http.Header { return c.trailers }

func malformedChunk(msg string) *Error {
	return newError(CodeInvalidRequest, "Malformed aws-chunked body: "+msg)
}

func incomplete(msg string) *Error {
	return newError(CodeIncompleteBody, "You did not provide the number of bytes specified by the Content-Length HTTP header: "+msg)
}

// ioError maps an error of the underlying body: a short body becomes
// IncompleteBody, anything else (timeouts, size limits) passes through.
func ioError(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return incomplete("the body ended " + what)
	}
	return err
}

// Read returns decoded payload bytes.
func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for c.left == 0 {
		if err := c.nextChunk(); err != nil {
			c.err = err
			return 0, err
		}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	if n > 0 {
		if c.h != nil {
			c.h.Write(p[:n])
		}
		c.left -= int64(n)
		if c.left == 0 {
			if e := c.endChunk(); e != nil {
				c.err = e
				return n, e
			}
			err = nil // endChunk read on successfully past any EOF seen here
		}
	}
	if err != nil {
		c.err = ioError(err, "inside a chunk")
		return n, c.err
	}
	return n, nil
}

// readLine reads one line, without its "\n" or "\r\n". At the end of the
// body it returns io.EOF with whatever partial line there was.
func (c *chunkedReader) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if len(line) > maxChunkLine || errors.Is(err, bufio.ErrBufferFull) {
		return nil, malformedChunk("a chunk header or trailer line is longer than 4096 bytes")
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return line, io.EOF
		}
		return nil, ioError(err, "inside a chunk header")
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// nextChunk reads a chunk header. For the final (zero) chunk it reads the
// trailers and returns io.EOF.
func (c *chunkedReader) nextChunk() error {
	line, err := c.readLine()
	if err != nil {
		if err == io.EOF {
			return incomplete("before the final chunk")
		}
		return err
	}
	size, sig, err := parseChunkHeader(line, c.p.signed)
	if err != nil {
		return err
	}
	if c.p.declared >= 0 && c.total+size > c.p.declared {
		return incomplete("the chunks hold more than x-amz-decoded-content-length")
	}
	c.total += size
	c.want = sig
	if size > 0 {
		if c.h != nil {
			c.h.Reset()
		}
		c.left = size
		return nil
	}
	if c.p.signed {
		if err := c.checkChunk(sha256.Sum256(nil)); err != nil {
			return err
		}
	}
	if c.p.declared >= 0 && c.total != c.p.declared {
		return incomplete("the chunks hold less than x-amz-decoded-content-length")
	}
	if err := c.readTrailers(); err != nil {
		return err
	}
	return io.EOF
}

// endChunk consumes the CRLF after a chunk's data and checks its signature.
func (c *chunkedReader) endChunk() error {
	b, err := c.br.ReadByte()
	if err == nil && b == '\r' {
		b, err = c.br.ReadByte()
	}
	if err != nil {
		return ioError(err, "after a chunk's data")
	}
	if b != '\n' {
		return malformedChunk("chunk data is not followed by CRLF")
	}
	if c.h == nil {
		return nil
	}
	var sum [sha256.Size]byte
	c.h.Sum(sum[:0])
	return c.checkChunk(sum)
}

// checkChunk compares the current chunk's claimed signature with the one
// computed from the previous signature and the SHA-256 of its data.
func (c *chunkedReader) checkChunk(dataHash [sha256.Size]byte) error {
	b := append(c.sts[:0], "AWS4-HMAC-SHA256-PAYLOAD\n"...)
	b = append(b, c.p.amzDate...)
	b = append(b, '\n')
	b = append(b, c.p.scope...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, c.prev[:])
	b = append(b, "\n"+emptySHA256+"\n"...)
	b = hex.AppendEncode(b, dataHash[:])
	c.sts = b
	sig := hmacSHA256(c.p.key[:], b)
	if !hmac.Equal(sig[:], c.want[:]) {
		return errSignatureMismatch
	}
	c.prev = sig
	return nil
}

// parseChunkHeader parses "hex-size[;name=value]…". In signed modes the
// chunk-signature extension is required.
func parseChunkHeader(line []byte, signed bool) (int64, [sha256.Size]byte, error) {
	var sig [sha256.Size]byte
	sizeField, exts, _ := bytes.Cut(line, []byte{';'})
	sizeField = bytes.Trim(sizeField, " \t")
	if len(sizeField) == 0 || len(sizeField) > 10 {
		return 0, sig, malformedChunk("bad chunk size")
	}
	var size int64
	for _, ch := range sizeField {
		var d byte
		switch {
		case '0' <= ch && ch <= '9':
			d = ch - '0'
		case 'a' <= ch && ch <= 'f':
			d = ch - 'a' + 10
		case 'A' <= ch && ch <= 'F':
			d = ch - 'A' + 10
		default:
			return 0, sig, malformedChunk("bad chunk size")
		}
		size = size<<4 | int64(d)
	}
	if size > maxChunkSize {
		return 0, sig, malformedChunk("chunk larger than 5 GiB")
	}
	found := false
	for len(exts) > 0 {
		var ext []byte
		ext, exts, _ = bytes.Cut(exts, []byte{';'})
		name, value, _ := bytes.Cut(bytes.Trim(ext, " \t"), []byte{'='})
		if string(name) != "chunk-signature" {
			continue
		}
		if len(value) != 2*sha256.Size {
			return 0, sig, errSignatureMismatch
		}
		if _, err := hex.Decode(sig[:], value); err != nil {
			return 0, sig, errSignatureMismatch
		}
		found = true
	}
	if signed && !found {
		return 0, sig, newError(CodeSignatureDoesNotMatch, "A chunk of the signed aws-chunked body carries no chunk-signature.")
	}
	return size, sig, nil
}

// readTrailers reads what follows the final chunk: trailer lines, in signed
// trailer mode x-amz-trailer-signature, and the closing blank line. It
// tolerates minio-go's "\n" line ends and its blank line before the
// signature, and a body that ends without the closing blank line; a trailer
// line cut short by the end of the body is IncompleteBody.
func (c *chunkedReader) readTrailers() error {
	signedTrailer := c.p.signed && c.p.trailer
	var canon []byte // "name:value\n" per trailer, what the trailer signature covers
	size, count, sawSig := 0, 0, false
	for {
		line, err := c.readLine()
		if err != nil && err != io.EOF {
			return err
		}
		if err == io.EOF {
			if len(line) > 0 {
				return incomplete("inside a trailer")
			}
			break
		}
		if size += len(line) + 2; size > maxTrailerSize {
			return malformedChunk("trailers longer than 16 KiB")
		}
		if len(line) == 0 {
			if signedTrailer && !sawSig {
				continue
			}
			if err := c.drain(); err != nil {
				return err
			}
			break
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		name = bytes.Trim(name, " \t")
		value = bytes.Trim(value, " \t")
		if !ok || !validHeaderName(name) {
			return malformedChunk("bad trailer line")
		}
		lname := bytes.ToLower(name)
		switch {
		case string(lname) == "x-amz-trailer-signature":
			if !c.p.signed {
				break // unsigned modes carry no trailer signature; ignore one
			}
			if sawSig {
				return malformedChunk("two trailer signatures")
			}
			if err := c.checkTrailer(canon, value); err != nil {
				return err
			}
			sawSig = true
		case sawSig:
			return malformedChunk("a trailer follows the trailer signature")
		case !c.p.trailer:
			return malformedChunk("trailers in a payload mode without trailers")
		default:
			canon = append(canon, lname...)
			canon = append(canon, ':')
			canon = append(canon, value...)
			canon = append(canon, '\n')
			if c.trailers == nil {
				c.trailers = make(http.Header)
			}
			key := textproto.CanonicalMIMEHeaderKey(string(name))
			if _, dup := c.trailers[key]; dup {
				// Which value counts would be this server's guess (a
				// checksum right in one line and wrong in the other):
				// AWS answers a trailer that does not match x-amz-trailer
				// with MalformedTrailerError.
				return newError(CodeMalformedTrailer, "The request contained trailing data that was not well-formed or did not conform to our published schema: the trailer "+string(lname)+" is sent twice.")
			}
			c.trailers.Add(key, string(value))
			count++
		}
	}
	if signedTrailer && count > 0 && !sawSig {
		return newError(CodeSignatureDoesNotMatch, "The trailers of the signed aws-chunked body carry no x-amz-trailer-signature.")
	}
	for _, name := range c.p.expect {
		if c.trailers.Get(name) == "" {
			return newError(CodeIncompleteBody, "The trailer "+name+" that x-amz-trailer declares is missing from the aws-chunked body.")
		}
	}
	return nil
}

// checkTrailer checks x-amz-trailer-signature, chained from the final
// chunk's signature over the SHA-256 of the canonical trailers.
func (c *chunkedReader) checkTrailer(canon, sigHex []byte) error {
	var claimed [sha256.Size]byte
	if len(sigHex) != 2*sha256.Size {
		return errSignatureMismatch
	}
	if _, err := hex.Decode(claimed[:], sigHex); err != nil {
		return errSignatureMismatch
	}
	sum := sha256.Sum256(canon)
	b := append(c.sts[:0], "AWS4-HMAC-SHA256-TRAILER\n"...)
	b = append(b, c.p.amzDate...)
	b = append(b, '\n')
	b = append(b, c.p.scope...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, c.prev[:])
	b = append(b, '\n')
	b = hex.AppendEncode(b, sum[:])
	c.sts = b
	sig := hmacSHA256(c.p.key[:], b)
	if !hmac.Equal(sig[:], claimed[:]) {
		return errSignatureMismatch
	}
	c.prev = sig
	return nil
}

// drain reads to the end of the body after the closing blank line,
// allowing only a few stray CR/LF bytes (minio-go sends one extra CRLF).
func (c *chunkedReader) drain() error {
	for i := 0; ; i++ {
		b, err := c.br.ReadByte()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if (b != '\r' && b != '\n') || i >= maxTrailerJunk {
			return malformedChunk("data after the final chunk")
		}
	}
}

// validHeaderName reports whether b is a non-empty HTTP token.
func validHeaderName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`"(),/:;<=>?@[\]{}`), c) >= 0 {
			return false
		}
	}
	return true
}
