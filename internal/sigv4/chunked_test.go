package sigv4

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The chunked-upload example of "Signature Calculations for the
// Authorization Header: Transferring Payload in Multiple Chunks".
const (
	docChunk1Sig = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
	docChunk2Sig = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
	docFinalSig  = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
	docSeedSig   = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
)

func docChunkedBody() string {
	return "10000;chunk-signature=" + docChunk1Sig + "\r\n" + strings.Repeat("a", 65536) + "\r\n" +
		"400;chunk-signature=" + docChunk2Sig + "\r\n" + strings.Repeat("a", 1024) + "\r\n" +
		"0;chunk-signature=" + docFinalSig + "\r\n\r\n"
}

func TestAWSChunkedExample(t *testing.T) {
	raw := "PUT /examplebucket/chunkObject.txt HTTP/1.1\nHost: s3.amazonaws.com\nx-amz-date: 20130524T000000Z\n" +
		"x-amz-storage-class: REDUCED_REDUNDANCY\n" +
		"Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
		"SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class," +
		"Signature=" + docSeedSig + "\n" +
		"x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\nContent-Encoding: aws-chunked\n" +
		"x-amz-decoded-content-length: 66560\nContent-Length: 66824\n\n"
	r := readRawRequest(t, raw)
	body := docChunkedBody()
	if len(body) != 66824 {
		t.Fatalf("example body is %d bytes", len(body))
	}
	r.Body = io.NopCloser(strings.NewReader(body))
	res, err := newTestVerifier(awsDocTime).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	if res.DecodedLength != 66560 || res.PayloadSHA256 != nil || res.Trailer != nil {
		t.Fatalf("result %+v", res)
	}
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != strings.Repeat("a", 66560) {
		t.Fatalf("decoded %d bytes", len(data))
	}
	// One changed signature in the chain fails the body.
	r = readRawRequest(t, raw)
	r.Body = io.NopCloser(strings.NewReader(strings.Replace(body, docChunk2Sig, flipHex(docChunk2Sig), 1)))
	res, err = newTestVerifier(awsDocTime).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(res.Body)
	wantCode(t, err, CodeSignatureDoesNotMatch)

	// The test encoder reproduces the published chunk signatures.
	s := &chunkSigner{key: refSigningKey(testSecret, "20130524", "us-east-1"), amzDate: "20130524T000000Z",
		scope: "20130524/us-east-1/s3/aws4_request", prev: docSeedSig}
	if got := string(encodeChunked(data, s, encodeOpts{sizes: []int{65536}})); got != body {
		t.Fatal("encodeChunked does not reproduce the documented body")
	}
}

// TestAWSTrailerExample checks the chunk and trailer signatures of the
// example in "Signature Calculations … Including Trailing Headers".
func TestAWSTrailerExample(t *testing.T) {
	const seed = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
	data := bytes.Repeat([]byte{'a'}, 66560)
	crc := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
	crcB64 := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc))
	if crcB64 != "sOO8/Q==" {
		t.Fatalf("crc32c = %s", crcB64)
	}
	body := "10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n" + string(data[:65536]) + "\r\n" +
		"400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n" + string(data[65536:]) + "\r\n" +
		"0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n" +
		"x-amz-checksum-crc32c:sOO8/Q==\r\n" +
		"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n"
	p := chunkParams{signed: true, trailer: true, amzDate: "20130524T000000Z",
		scope: "20130524/us-east-1/s3/aws4_request", declared: 66560}
	copy(p.key[:], refSigningKey(testSecret, "20130524", "us-east-1"))
	mustHex(t, p.seed[:], seed)
	cr := newChunkedReader(strings.NewReader(body), p)
	got, err := io.ReadAll(cr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("payload differs")
	}
	if v := cr.trailerHeader().Get("X-Amz-Checksum-Crc32c"); v != "sOO8/Q==" {
		t.Fatalf("trailer = %q", v)
	}
	// A changed trailer value breaks the trailer signature.
	bad := strings.Replace(body, "sOO8/Q==", "sOO8/Q=A", 1)
	_, err = io.ReadAll(newChunkedReader(strings.NewReader(bad), p))
	wantCode(t, err, CodeSignatureDoesNotMatch)
}

func mustHex(t testing.TB, dst []byte, s string) {
	t.Helper()
	if n, err := hex.Decode(dst, []byte(s)); err != nil || n != len(dst) {
		t.Fatalf("bad hex %q: %v", s, err)
	}
}

// streamingRequest builds a PUT whose headers aws-sdk-go-v2 signs with the
// streaming mode as payload hash, and whose body encodeChunked encodes with
// the resulting seed.
func streamingRequest(t *testing.T, mode string, data []byte, o encodeOpts, region string) *http.Request {
	t.Helper()
	signed := mode != streamingUnsignedTrailer
	r := mustRequest(t, "PUT", "http://127.0.0.1:9000/bucket/streamed%20key", nil)
	r.Header.Set("X-Amz-Content-Sha256", mode)
	r.Header.Set("Content-Encoding", "aws-chunked")
	r.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
	var names []string
	for _, kv := range o.trailers {
		names = append(names, strings.ToLower(kv[0]))
	}
	if len(names) > 0 {
		r.Header.Set("X-Amz-Trailer", strings.Join(names, ","))
	}
	date := testTime.Format("20060102")
	s := &chunkSigner{amzDate: testTime.Format(amzDateLayout), scope: date + "/" + region + "/s3/aws4_request",
		prev: strings.Repeat("0", 64)}
	if signed {
		s.key = refSigningKey(testSecret, date, region)
	}
	// Signatures have a fixed length, so a dummy encoding gives the length to sign.
	r.ContentLength = int64(len(encodeChunked(data, &chunkSigner{key: s.key, prev: s.prev}, o)))
	if err := v4.NewSigner().SignHTTP(context.Background(), testCreds, r, mode, "s3", region, testTime, s3Escaping); err != nil {
		t.Fatal(err)
	}
	a := r.Header.Get("Authorization")
	s.prev = a[strings.LastIndex(a, "=")+1:]
	body := encodeChunked(data, s, o)
	if int64(len(body)) != r.ContentLength {
		t.Fatalf("encoded %d bytes, signed %d", len(body), r.ContentLength)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return r
}

func randomData(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestChunkedRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	modes := []string{streamingSigned, streamingSignedTrailer, streamingUnsignedTrailer}
	lengths := []int{0, 1, 100, 8191, 65536, 200_003}
	readers := map[string]func(io.Reader) io.Reader{
		"plain":   func(r io.Reader) io.Reader { return r },
		"onebyte": iotest.OneByteReader,
		"half":    iotest.HalfReader,
		"dataerr": iotest.DataErrReader,
	}
	for _, mode := range modes {
		for _, n := range lengths {
			for _, quirk := range []bool{false, true} {
				data := randomData(rng, n)
				o := encodeOpts{sizes: []int{1 + rng.IntN(70000), 1 + rng.IntN(10), 1 + rng.IntN(9000)}, minioQuirk: quirk}
				if mode != streamingSigned {
					o.trailers = [][2]string{{"x-amz-checksum-crc32", crc32B64(data)}}
					o.noFinalCRLF = quirk && rng.IntN(2) == 0
				}
				for rname, wrap := range readers {
					name := mode + "/" + strconv.Itoa(n) + "/quirk=" + strconv.FormatBool(quirk) + "/" + rname
					t.Run(name, func(t *testing.T) {
						r := streamingRequest(t, mode, data, o, "eu-west-2")
						res, err := newTestVerifier(testTime).Verify(r)
						if err != nil {
							t.Fatal(err)
						}
						if res.DecodedLength != int64(n) {
							t.Fatalf("DecodedLength = %d", res.DecodedLength)
						}
						// The decoder reads from a slow body, and is read slowly.
						res.Body.(*chunkedReader).br.Reset(wrap(r.Body))
						got, err := io.ReadAll(wrap(res.Body))
						if err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(got, data) {
							t.Fatalf("decoded %d bytes, want %d", len(got), n)
						}
						checkTrailer(t, res, o)
					})
				}
			}
		}
	}
}

func checkTrailer(t *testing.T, res *Result, o encodeOpts) {
	t.Helper()
	if len(o.trailers) == 0 {
		if res.Trailer != nil {
			t.Fatal("Trailer set without x-amz-trailer")
		}
		return
	}
	if res.Trailer == nil {
		t.Fatal("Trailer is nil")
	}
	want := http.Header{}
	for _, kv := range o.trailers {
		want.Add(kv[0], kv[1])
	}
	if got := res.Trailer(); !reflect.DeepEqual(got, want) {
		t.Fatalf("trailers %v, want %v", got, want)
	}
}

func crc32B64(b []byte) string {
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(b)))
}

func TestChunkedIotest(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := randomData(rng, 50_000)
	for _, mode := range []string{streamingSigned, streamingSignedTrailer, streamingUnsignedTrailer} {
		t.Run(mode, func(t *testing.T) {
			o := encodeOpts{sizes: []int{4096, 17, 9000}}
			if mode != streamingSigned {
				o.trailers = [][2]string{{"x-amz-checksum-crc32", crc32B64(data)}}
			}
			res, err := newTestVerifier(testTime).Verify(streamingRequest(t, mode, data, o, "us-east-1"))
			if err != nil {
				t.Fatal(err)
			}
			if err := iotest.TestReader(res.Body, data); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		r := streamingRequest(t, streamingSigned, data, encodeOpts{sizes: []int{1000}}, "us-east-1")
		r.Body = io.NopCloser(iotest.TimeoutReader(r.Body))
		res, err := newTestVerifier(testTime).Verify(r)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(res.Body)
		if !errors.Is(err, iotest.ErrTimeout) {
			t.Fatalf("err = %v, want the body's timeout", err)
		}
		if _, again := res.Body.Read(make([]byte, 10)); again != err {
			t.Fatalf("error is not sticky: %v", again)
		}
	})
	t.Run("unexpected EOF", func(t *testing.T) {
		p := chunkParams{declared: -1}
		cr := newChunkedReader(iotest.ErrReader(io.ErrUnexpectedEOF), p)
		_, err := io.ReadAll(cr)
		wantCode(t, err, CodeIncompleteBody)
	})
}

// decodeWith decodes body with the parameters the test key and seed give.
// In trailer modes the request declares x-amz-checksum-crc32.
func decodeWith(body string, signed, trailer bool, declared int64) (*chunkedReader, []byte, error) {
	p := chunkParams{signed: signed, trailer: trailer, amzDate: testTime.Format(amzDateLayout),
		scope: testTime.Format("20060102") + "/us-east-1/s3/aws4_request", declared: declared}
	if trailer {
		p.expect = []string{"x-amz-checksum-crc32"}
	}
	copy(p.key[:], refSigningKey(testSecret, testTime.Format("20060102"), "us-east-1"))
	cr := newChunkedReader(strings.NewReader(body), p)
	data, err := io.ReadAll(cr)
	return cr, data, err
}

func testSigner() *chunkSigner {
	return &chunkSigner{key: refSigningKey(testSecret, testTime.Format("20060102"), "us-east-1"),
		amzDate: testTime.Format(amzDateLayout), scope: testTime.Format("20060102") + "/us-east-1/s3/aws4_request",
		prev: strings.Repeat("0", 64)}
}

func TestChunkedTruncation(t *testing.T) {
	data := []byte("hello, aws-chunked world")
	trailers := [][2]string{{"x-amz-checksum-crc32", crc32B64(data)}}
	for _, tc := range []struct {
		name            string
		signed, trailer bool
		o               encodeOpts
	}{
		{"signed", true, false, encodeOpts{sizes: []int{5}}},
		{"signed trailer", true, true, encodeOpts{sizes: []int{7}, trailers: trailers}},
		{"unsigned trailer", false, true, encodeOpts{sizes: []int{3}, trailers: trailers}},
		{"unsigned trailer minio", false, true, encodeOpts{sizes: []int{3}, trailers: trailers, minioQuirk: true}},
		{"signed trailer minio", true, true, encodeOpts{sizes: []int{9}, trailers: trailers, minioQuirk: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s *chunkSigner
			if tc.signed {
				s = testSigner()
			}
			body := string(encodeChunked(data, s, tc.o))
			for i := 0; i <= len(body); i++ {
				cr, got, err := decodeWith(body[:i], tc.signed, tc.trailer, int64(len(data)))
				if err != nil {
					var e *Error
					if !errors.As(err, &e) {
						t.Fatalf("prefix %d: error %v is not an *Error", i, err)
					}
					continue
				}
				// Only the whole body, or one missing just its closing blank line(s), decodes.
				if rest := body[i:]; strings.Trim(rest, "\r\n") != "" {
					t.Fatalf("prefix %d of %d decoded (rest %q)", i, len(body), rest)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("prefix %d: decoded %q", i, got)
				}
				if tc.trailer && cr.trailerHeader().Get("X-Amz-Checksum-Crc32") != trailers[0][1] {
					t.Fatalf("prefix %d: trailers %v", i, cr.trailerHeader())
				}
			}
		})
	}
}

func TestChunkedErrors(t *testing.T) {
	data := []byte("0123456789abcdef")
	trailers := [][2]string{{"x-amz-checksum-crc32", crc32B64(data)}}
	signedBody := string(encodeChunked(data, testSigner(), encodeOpts{sizes: []int{10}}))
	trailerBody := string(encodeChunked(data, testSigner(), encodeOpts{sizes: []int{10}, trailers: trailers}))
	unsignedBody := string(encodeChunked(data, nil, encodeOpts{sizes: []int{10}, trailers: trailers}))
	sig0 := signedBody[strings.Index(signedBody, "=")+1 : strings.Index(signedBody, "\r\n")]
	tests := []struct {
		name            string
		body            string
		signed, trailer bool
		declared        int64
		code            string
	}{
		{"ok signed", signedBody, true, false, 16, ""},
		{"ok unknown length", signedBody, true, false, -1, ""},
		{"ok unsigned", unsignedBody, false, true, 16, ""},
		{"declared longer", signedBody, true, false, 17, CodeIncompleteBody},
		{"declared shorter", signedBody, true, false, 15, CodeIncompleteBody},
		{"tampered data", strings.Replace(signedBody, "01234", "01235", 1), true, false, 16, CodeSignatureDoesNotMatch},
		{"flipped chunk signature", strings.Replace(signedBody, sig0, flipHex(sig0), 1), true, false, 16, CodeSignatureDoesNotMatch},
		{"missing chunk signature", strings.Replace(signedBody, ";chunk-signature="+sig0, "", 1), true, false, 16, CodeSignatureDoesNotMatch},
		{"short chunk signature", strings.Replace(signedBody, sig0, sig0[:10], 1), true, false, 16, CodeSignatureDoesNotMatch},
		{"swapped chunks", swapChunks(signedBody), true, false, 16, CodeSignatureDoesNotMatch},
		{"bad hex size", strings.Replace(signedBody, "a;", "g;", 1), true, false, 16, CodeInvalidRequest},
		{"empty size", "\r\n", false, true, -1, CodeInvalidRequest},
		{"huge size", "fffffffff\r\n", false, true, -1, CodeInvalidRequest},
		{"too many digits", "00000000001\r\n", false, true, -1, CodeInvalidRequest},
		{"long header", "1;" + strings.Repeat("x", 5000) + "\r\na\r\n0\r\n\r\n", false, true, -1, CodeInvalidRequest},
		{"very long header", "1;" + strings.Repeat("x", 50000) + "\r\na\r\n0\r\n\r\n", false, true, -1, CodeInvalidRequest},
		{"no CRLF after data", "3\r\nabcX\r\n0\r\n\r\n", false, true, -1, CodeInvalidRequest},
		{"truncated data", "10\r\nabc", false, true, -1, CodeIncompleteBody},
		{"empty body", "", false, true, -1, CodeIncompleteBody},
		{"junk after end", unsignedBody + "GET / HTTP/1.1", false, true, 16, CodeInvalidRequest},
		{"too much CRLF after end", unsignedBody + "\r\n\r\n\r\n", false, true, 16, CodeInvalidRequest},
		{"tampered trailer", strings.Replace(trailerBody, trailers[0][1], "AAAAAA==", 1), true, true, 16, CodeSignatureDoesNotMatch},
		{"dropped trailer signature", dropLine(trailerBody, "x-amz-trailer-signature:"), true, true, 16, CodeSignatureDoesNotMatch},
		{"trailer after signature", strings.Replace(trailerBody, "\r\n\r\n", "\r\nx-amz-meta-late:1\r\n\r\n", 1), true, true, 16, CodeInvalidRequest},
		{"trailer in non-trailer mode", strings.TrimSuffix(signedBody, "\r\n") + "x-amz-checksum-crc32:AAAAAA==\r\n\r\n", true, false, 16, CodeInvalidRequest},
		{"trailer without colon", "0\r\nno-colon\r\n\r\n", false, true, 0, CodeInvalidRequest},
		{"bad trailer name", "0\r\nbad name:1\r\n\r\n", false, true, 0, CodeInvalidRequest},
		{"huge trailers", "0\r\n" + manyTrailers(20, 1000) + "\r\n", false, true, 0, CodeInvalidRequest},
		{"unsigned ignores signature", "0\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:zz\r\n\r\n", false, true, 0, ""},
		{"chunk extensions", "3;foo=bar;baz\r\nabc\r\n0;x=y\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", false, true, 3, ""},
		{"bare LF lines", "3\nabc\n0\nx-amz-checksum-crc32:AAAAAA==\n\n", false, true, 3, ""},
		{"declared trailer missing", "3\r\nabc\r\n0\r\nx-amz-checksum-sha256:AAAAAA==\r\n\r\n", false, true, 3, CodeIncompleteBody},
		{"no trailers at all", "3\r\nabc\r\n0\r\n\r\n", false, true, 3, CodeIncompleteBody},
		{"trailer twice", "3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", false, true, 3, CodeMalformedTrailer},
		{"trailer twice, other case", "3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\nX-Amz-Checksum-CRC32:NSRBwg==\r\n\r\n", false, true, 3, CodeMalformedTrailer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodeWith(tc.body, tc.signed, tc.trailer, tc.declared)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, tc.code)
		})
	}
}

// manyTrailers is n trailer lines of distinct names, each with a value
// of size bytes.
func manyTrailers(n, size int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "x-amz-meta-a%d:%s\r\n", i, strings.Repeat("v", size))
	}
	return b.String()
}

func flipHex(s string) string {
	b := []byte(s)
	if b[0] == '0' {
		b[0] = '1'
	} else {
		b[0] = '0'
	}
	return string(b)
}

// swapChunks exchanges the data of the first two chunks' headers, keeping
// each header valid on its own.
func swapChunks(body string) string {
	lines := strings.SplitAfter(body, "\r\n")
	lines[0], lines[2] = lines[2], lines[0]
	lines[1], lines[3] = lines[3], lines[1]
	return strings.Join(lines, "")
}

func dropLine(body, prefix string) string {
	var out []string
	for _, l := range strings.SplitAfter(body, "\r\n") {
		if !strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

func TestStreamingVerifyErrors(t *testing.T) {
	data := []byte("payload")
	r := streamingRequest(t, streamingSigned, data, encodeOpts{sizes: []int{4}}, "us-east-1")
	r.Header.Set("X-Amz-Decoded-Content-Length", "lots")
	_, err := newTestVerifier(testTime).Verify(r)
	wantCode(t, err, CodeInvalidArgument)

	// A seed signed for another time breaks every chunk.
	r = streamingRequest(t, streamingSigned, data, encodeOpts{sizes: []int{4}}, "us-east-1")
	res, err := newTestVerifier(testTime).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	cr := res.Body.(*chunkedReader)
	cr.prev[0] ^= 1
	_, err = io.ReadAll(cr)
	wantCode(t, err, CodeSignatureDoesNotMatch)

	// Without x-amz-decoded-content-length the length is unknown but decoding works.
	r = streamingRequest(t, streamingUnsignedTrailer, data, encodeOpts{sizes: []int{4}}, "us-east-1")
	r.Header.Del("X-Amz-Decoded-Content-Length")
	r.Header.Set("X-Amz-Content-Sha256", streamingUnsignedTrailer)
	// (the header was signed; re-sign without it)
	r.Header.Del("Authorization")
	if err := v4.NewSigner().SignHTTP(context.Background(), testCreds, r, streamingUnsignedTrailer, "s3", "us-east-1", testTime, s3Escaping); err != nil {
		t.Fatal(err)
	}
	res, err = newTestVerifier(testTime).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	if res.DecodedLength != -1 {
		t.Fatalf("DecodedLength = %d", res.DecodedLength)
	}
	if got, err := io.ReadAll(res.Body); err != nil || string(got) != "payload" {
		t.Fatalf("decoded %q, %v", got, err)
	}
}
