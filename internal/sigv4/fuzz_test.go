package sigv4

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzChunkedReader feeds arbitrary bodies to the aws-chunked decoder in
// every mode. It must never panic or hang, must fail only with *Error, and
// whatever it accepts must honour the declared length and come from the body.
func FuzzChunkedReader(f *testing.F) {
	data := []byte("fuzzing the aws-chunked decoder")
	trailers := [][2]string{{"x-amz-checksum-crc32", crc32B64(data)}}
	f.Add([]byte(docChunkedBody()[:200]), uint8(1), int64(-1))
	f.Add(encodeChunked(data, testSigner(), encodeOpts{sizes: []int{7}}), uint8(1), int64(len(data)))
	f.Add(encodeChunked(data, testSigner(), encodeOpts{sizes: []int{5}, trailers: trailers}), uint8(7), int64(len(data)))
	f.Add(encodeChunked(data, testSigner(), encodeOpts{sizes: []int{9}, trailers: trailers, minioQuirk: true}), uint8(3), int64(len(data)))
	f.Add(encodeChunked(data, nil, encodeOpts{sizes: []int{3}, trailers: trailers}), uint8(6), int64(len(data)))
	f.Add(encodeChunked(data, nil, encodeOpts{sizes: []int{30}, trailers: trailers, minioQuirk: true, noFinalCRLF: true}), uint8(2), int64(-1))
	f.Add([]byte("3;chunk-signature="+strings.Repeat("0", 64)+"\r\nabc\r\n0\r\n\r\n"), uint8(0), int64(3))
	f.Add([]byte("ffffffff\r\n"), uint8(2), int64(-1))
	f.Add([]byte("0\r\nx-amz-checksum-crc32:AAAA\nx-amz-trailer-signature:00\r\n\r\n\r\n"), uint8(3), int64(0))

	f.Fuzz(func(t *testing.T, body []byte, mode uint8, declared int64) {
		if declared < 0 {
			declared = -1
		}
		p := chunkParams{
			signed:   mode&1 != 0,
			trailer:  mode&2 != 0,
			amzDate:  testTime.Format(amzDateLayout),
			scope:    testTime.Format("20060102") + "/us-east-1/s3/aws4_request",
			declared: declared,
		}
		if mode&4 != 0 {
			p.expect = []string{"x-amz-checksum-crc32"}
		}
		copy(p.key[:], refSigningKey(testSecret, testTime.Format("20060102"), "us-east-1"))
		cr := newChunkedReader(bytes.NewReader(body), p)
		buf := make([]byte, 1+int(mode>>3)*97)
		var n int64
		var err error
		for reads := 0; ; reads++ {
			if reads > 2*len(body)+10 {
				t.Fatalf("no progress after %d reads", reads)
			}
			var k int
			k, err = cr.Read(buf)
			n += int64(k)
			if err != nil {
				break
			}
		}
		if err != io.EOF {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			if _, again := cr.Read(buf); again != err {
				t.Fatalf("error not sticky: %v then %v", err, again)
			}
			return
		}
		if declared >= 0 && n != declared {
			t.Fatalf("accepted %d bytes, declared %d", n, declared)
		}
		if n > int64(len(body)) {
			t.Fatalf("decoded %d bytes from a %d-byte body", n, len(body))
		}
		for _, name := range p.expect {
			if cr.trailerHeader().Get(name) == "" {
				t.Fatalf("accepted without trailer %s", name)
			}
		}
	})
}
