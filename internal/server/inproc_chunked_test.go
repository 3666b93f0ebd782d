package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// chunkSigner chains aws-chunked chunk and trailer signatures.
type chunkSigner struct {
	key     []byte
	amzDate string
	scope   string
	prev    string // the previous signature (the request's, first)
}

func (s *chunkSigner) chunk(data []byte) string {
	sum := sha256.Sum256(data)
	sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + s.amzDate + "\n" + s.scope + "\n" + s.prev + "\n" + emptySHA256 + "\n" + hex.EncodeToString(sum[:])
	s.prev = hex.EncodeToString(hmacSHA256(s.key, sts))
	return s.prev
}

func (s *chunkSigner) trailer(canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	sts := "AWS4-HMAC-SHA256-TRAILER\n" + s.amzDate + "\n" + s.scope + "\n" + s.prev + "\n" + hex.EncodeToString(sum[:])
	s.prev = hex.EncodeToString(hmacSHA256(s.key, sts))
	return s.prev
}

// awsChunked encodes data in chunks of size chunk. With a signer the
// chunks (and trailers, if any) are signed; trailers follow the final
// chunk as "name:value" lines.
func awsChunked(data []byte, chunk int, sg *chunkSigner, trailers [][2]string) []byte {
	var b bytes.Buffer
	for off := 0; ; off += chunk {
		end := min(off+chunk, len(data))
		c := data[min(off, len(data)):end]
		fmt.Fprintf(&b, "%x", len(c))
		if sg != nil {
			b.WriteString(";chunk-signature=" + sg.chunk(c))
		}
		b.WriteString("\r\n")
		if len(c) == 0 {
			break
		}
		b.Write(c)
		b.WriteString("\r\n")
	}
	var canon strings.Builder
	for _, tr := range trailers {
		b.WriteString(tr[0] + ":" + tr[1] + "\r\n")
		canon.WriteString(tr[0] + ":" + tr[1] + "\n")
	}
	if sg != nil && len(trailers) > 0 {
		b.WriteString("x-amz-trailer-signature:" + sg.trailer(canon.String()) + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// chunkedPut is a hand-built aws-chunked PUT.
type chunkedPut struct {
	mode     string // STREAMING-…
	data     []byte
	chunk    int
	trailers [][2]string
	// declared overrides x-amz-decoded-content-length when non-empty.
	declared string
	// tamper edits the encoded body (keeping its length) after signing.
	tamper func([]byte)
	// reader wraps the body reader (iotest readers).
	reader func(io.Reader) io.Reader
}

func (e *env) sendChunked(bucket, key string, p chunkedPut) (int, []byte) {
	e.t.Helper()
	signed := strings.HasPrefix(p.mode, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
	now := time.Now().UTC()
	amzDate := now.Format("20060102T150405Z")
	sg := func(seed string) *chunkSigner {
		if !signed {
			return nil
		}
		return &chunkSigner{key: signingKey(e.secret, amzDate[:8]), amzDate: amzDate, scope: amzDate[:8] + "/" + region + "/s3/aws4_request", prev: seed}
	}
	// Signatures are of fixed length, so a dummy seed gives the length.
	n := len(awsChunked(p.data, p.chunk, sg(strings.Repeat("0", 64)), p.trailers))
	r := e.request(http.MethodPut, e.url(bucket, key), nil)
	r.ContentLength = int64(n)
	r.Header.Set("Content-Encoding", "aws-chunked")
	declared := p.declared
	if declared == "" {
		declared = strconv.Itoa(len(p.data))
	}
	r.Header.Set("X-Amz-Decoded-Content-Length", declared)
	var names []string
	for _, tr := range p.trailers {
		if !slices.Contains(names, tr[0]) { // declared once, as a client would
			names = append(names, tr[0])
		}
	}
	if len(names) > 0 {
		r.Header.Set("X-Amz-Trailer", strings.Join(names, ","))
	}
	seed := e.sign(r, p.mode, now)
	body := awsChunked(p.data, p.chunk, sg(seed), p.trailers)
	if p.tamper != nil {
		p.tamper(body)
	}
	var rd io.Reader = bytes.NewReader(body)
	if p.reader != nil {
		rd = p.reader(rd)
	}
	r.Body = io.NopCloser(rd)
	st, _, resp := e.do(r)
	return st, resp
}

// TestChunkedHandBuilt covers the aws-chunked modes with bodies encoded
// here: odd chunk sizes (no 8 KiB minimum), paced client writes, and
// tampering.
func TestChunkedHandBuilt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("chunked")
	body := data(70, 70_000)
	crc := [][2]string{{"x-amz-checksum-crc32", checksumOf(types.ChecksumAlgorithmCrc32, body)}}
	crcBad := [][2]string{{"x-amz-checksum-crc32", checksumOf(types.ChecksumAlgorithmCrc32, body[1:])}}
	const (
		signed         = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
		signedTrailer  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
		unsignedTraile = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	)
	flip := func(at func(b []byte) int) func([]byte) {
		return func(b []byte) { b[at(b)] ^= 1 }
	}
	inFirstChunk := func(b []byte) int { return bytes.Index(b, []byte("\r\n")) + 10 }
	inTrailerSig := func(b []byte) int { return bytes.Index(b, []byte("x-amz-trailer-signature:")) + 30 }
	for _, tc := range []struct {
		name   string
		p      chunkedPut
		status int
		code   string // "" when it must be stored
	}{
		{"signed 64KiB chunks", chunkedPut{mode: signed, chunk: 64 << 10}, 200, ""},
		{"signed 1000-byte chunks", chunkedPut{mode: signed, chunk: 1000}, 200, ""},
		{"signed, client writes 1 byte at a time", chunkedPut{mode: signed, chunk: 8 << 10, reader: iotest.OneByteReader}, 200, ""},
		{"signed, client half reads", chunkedPut{mode: signed, chunk: 3 << 10, reader: iotest.HalfReader}, 200, ""},
		{"signed trailer", chunkedPut{mode: signedTrailer, chunk: 16 << 10, trailers: crc}, 200, ""},
		{"signed trailer, client writes 1 byte at a time", chunkedPut{mode: signedTrailer, chunk: 7000, trailers: crc, reader: iotest.OneByteReader}, 200, ""},
		{"unsigned trailer", chunkedPut{mode: unsignedTraile, chunk: 10_000, trailers: crc}, 200, ""},
		{"unsigned trailer, data with EOF", chunkedPut{mode: unsignedTraile, chunk: 333, trailers: crc, reader: iotest.DataErrReader}, 200, ""},
		{"signed, a chunk's data tampered", chunkedPut{mode: signed, chunk: 8 << 10, tamper: flip(inFirstChunk)}, 403, "SignatureDoesNotMatch"},
		{"signed trailer, trailer signature tampered", chunkedPut{mode: signedTrailer, chunk: 8 << 10, trailers: crc, tamper: flip(inTrailerSig)}, 403, "SignatureDoesNotMatch"},
		{"signed trailer, wrong checksum", chunkedPut{mode: signedTrailer, chunk: 8 << 10, trailers: crcBad}, 400, "BadDigest"},
		{"unsigned trailer, wrong checksum", chunkedPut{mode: unsignedTraile, chunk: 8 << 10, trailers: crcBad}, 400, "BadDigest"},
		{"unsigned trailer, chunk data tampered", chunkedPut{mode: unsignedTraile, chunk: 8 << 10, trailers: crc, tamper: flip(inFirstChunk)}, 400, "BadDigest"},
		// A checksum trailer sent twice: which one counts would be a
		// guess, and one of them is wrong.
		{"unsigned trailer twice, right one first", chunkedPut{mode: unsignedTraile, chunk: 8 << 10, trailers: slices.Concat(crc, crcBad)}, 400, "MalformedTrailerError"},
		{"unsigned trailer twice, wrong one first", chunkedPut{mode: unsignedTraile, chunk: 8 << 10, trailers: slices.Concat(crcBad, crc)}, 400, "MalformedTrailerError"},
		{"signed trailer twice", chunkedPut{mode: signedTrailer, chunk: 8 << 10, trailers: slices.Concat(crc, crcBad)}, 400, "MalformedTrailerError"},
		{"decoded length too large", chunkedPut{mode: signed, chunk: 8 << 10, declared: strconv.Itoa(len(body) + 1)}, 400, "IncompleteBody"},
		{"decoded length too small", chunkedPut{mode: signed, chunk: 8 << 10, declared: strconv.Itoa(len(body) - 1)}, 400, "IncompleteBody"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := strings.ReplaceAll(tc.name, " ", "-")
			tc.p.data = body
			st, resp := e.sendChunked(b, key, tc.p)
			if tc.code != "" {
				wantError(t, st, resp, tc.status, tc.code)
				e.absent(b, key)
				return
			}
			if st != http.StatusOK {
				t.Fatalf("PUT: %d %s", st, resp)
			}
			if got := e.get(b, key); !bytes.Equal(got, body) {
				t.Fatalf("stored %d bytes, want the %d decoded bytes", len(got), len(body))
			}
		})
	}
	// An empty object in each mode.
	for _, mode := range []string{signed, signedTrailer, unsignedTraile} {
		var tr [][2]string
		if mode != signed {
			tr = [][2]string{{"x-amz-checksum-crc32", checksumOf(types.ChecksumAlgorithmCrc32, nil)}}
		}
		st, resp := e.sendChunked(b, "empty-"+mode, chunkedPut{mode: mode, chunk: 10, trailers: tr})
		if st != http.StatusOK {
			t.Errorf("empty %s: %d %s", mode, st, resp)
		} else if got := e.get(b, "empty-"+mode); len(got) != 0 {
			t.Errorf("empty %s stored %d bytes", mode, len(got))
		}
	}
}
