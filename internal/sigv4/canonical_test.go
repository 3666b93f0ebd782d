package sigv4

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"
)

var awsDocTime = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)

// readRawRequest parses a request as the server would receive it.
func readRawRequest(t *testing.T, raw string) *http.Request {
	t.Helper()
	raw = strings.ReplaceAll(raw, "\n", "\r\n")
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAWSDocumentationExamples verifies the signed examples of "Signature
// Calculations for the Authorization Header" and "Authenticating Requests:
// Using Query Parameters" in the S3 API reference.
func TestAWSDocumentationExamples(t *testing.T) {
	const auth = "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
	tests := []struct {
		name, raw, payload string
	}{
		{"GET object", "GET /test.txt HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\n" + auth +
			"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41\n" +
			"Range: bytes=0-9\nx-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-amz-date: 20130524T000000Z\n\n",
			emptySHA256},
		{"PUT object", "PUT /test%24file.text HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\nDate: Fri, 24 May 2013 00:00:00 GMT\n" + auth +
			"SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd\n" +
			"x-amz-date: 20130524T000000Z\nx-amz-storage-class: REDUCED_REDUNDANCY\n" +
			"x-amz-content-sha256: 44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\nContent-Length: 21\n\nWelcome to Amazon S3.",
			"44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"},
		{"GET lifecycle", "GET /?lifecycle HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\n" + auth +
			"SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543\n" +
			"x-amz-date: 20130524T000000Z\nx-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\n",
			emptySHA256},
		{"list objects", "GET /?max-keys=2&prefix=J HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\n" + auth +
			"SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7\n" +
			"x-amz-date: 20130524T000000Z\nx-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\n",
			emptySHA256},
		{"presigned GET", "GET /test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
			"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
			"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404 HTTP/1.1\nHost: examplebucket.s3.amazonaws.com\n\n",
			""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := readRawRequest(t, tc.raw)
			res, err := newTestVerifier(awsDocTime.Add(10 * time.Minute)).Verify(r)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(res.PayloadSHA256); got != tc.payload {
				t.Fatalf("PayloadSHA256 = %s, want %s", got, tc.payload)
			}
			data, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.payload != "" && sha256Hex(data) != tc.payload {
				t.Fatalf("body hash %s", sha256Hex(data))
			}
		})
	}
}

func TestURIEncode(t *testing.T) {
	tests := []struct{ in, path, query string }{
		{"", "", ""},
		{"abcXYZ019-._~", "abcXYZ019-._~", "abcXYZ019-._~"},
		{"/a/b c", "/a/b%20c", "%2Fa%2Fb%20c"},
		{"a+b=c&d", "a%2Bb%3Dc%26d", "a%2Bb%3Dc%26d"},
		{"ü", "%C3%BC", "%C3%BC"},
		{"100%", "100%25", "100%25"},
		{"*'()!$,;:@", "%2A%27%28%29%21%24%2C%3B%3A%40", "%2A%27%28%29%21%24%2C%3B%3A%40"},
		{"\x00\x7f\xff", "%00%7F%FF", "%00%7F%FF"},
	}
	for _, tc := range tests {
		if got := uriEncode(tc.in, true); got != tc.path {
			t.Errorf("uriEncode(%q, path) = %q, want %q", tc.in, got, tc.path)
		}
		if got := uriEncode(tc.in, false); got != tc.query {
			t.Errorf("uriEncode(%q, query) = %q, want %q", tc.in, got, tc.query)
		}
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct {
		raw     string
		presign bool
		want    string
	}{
		{"", false, ""},
		{"uploads", false, "uploads="},
		{"location=", false, "location="},
		{"b=2&a=1", false, "a=1&b=2"},
		{"a=2&a=1&a=10", false, "a=1&a=10&a=2"},
		{"prefix=a+b&x=%20", false, "prefix=a%20b&x=%20"},
		{"prefix=a%2Bb", false, "prefix=a%2Bb"},
		{"k=a/b&k=a-b", false, "k=a%2Fb&k=a-b"}, // sorted after encoding: '%' < '-'
		{"x-id=PutObject&partNumber=1&uploadId=u", false, "partNumber=1&uploadId=u&x-id=PutObject"},
		{"semi=a;b", false, "semi=a%3Bb"},
		{"a&&b", false, "a=&b="},
		{"X-Amz-Signature=abc&X-Amz-Date=d", true, "X-Amz-Date=d"},
		{"X-Amz-Signature=abc", false, "X-Amz-Signature=abc"},
		{"%E2%82%AC=%E2%82%AC", false, "%E2%82%AC=%E2%82%AC"},
	}
	for _, tc := range tests {
		pairs, err := parseQuery(tc.raw)
		if err != nil {
			t.Fatalf("parseQuery(%q): %v", tc.raw, err)
		}
		if got := string(appendCanonicalQuery(nil, pairs, tc.presign)); got != tc.want {
			t.Errorf("canonical query of %q = %q, want %q", tc.raw, got, tc.want)
		}
	}
	for _, bad := range []string{"a=%", "a=%zz", "%g=1"} {
		if _, err := parseQuery(bad); err == nil {
			t.Errorf("parseQuery(%q) succeeded", bad)
		}
	}
}

func TestQueryAuthKind(t *testing.T) {
	tests := []struct {
		raw    string
		v4, v2 bool
	}{
		{"", false, false},
		{"uploads&x-id=Foo", false, false},
		{"X-Amz-Credential=x", true, false},
		{"a=1&X-Amz-Signature", true, false},
		{"AWSAccessKeyId=AK&Expires=1&Signature=s", false, true},
		{"x-amz-algorithm=lowercase-is-not-auth", false, false},
	}
	for _, tc := range tests {
		if v4, v2 := queryAuthKind(tc.raw); v4 != tc.v4 || v2 != tc.v2 {
			t.Errorf("queryAuthKind(%q) = %v, %v", tc.raw, v4, v2)
		}
	}
}

func TestTrimmed(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a", "a"},
		{"  a  ", "a"},
		{"\ta b\t", "a b"},
		{"a   b    c", "a b c"},
		{"a \t b", "a \t b"}, // only runs of spaces collapse, as the SDKs' signers do
	}
	for _, tc := range tests {
		if got := string(appendTrimmed(nil, tc.in)); got != tc.want {
			t.Errorf("appendTrimmed(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHMACMatchesCryptoHMAC(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		key := make([]byte, rng.IntN(200))
		msg := make([]byte, rng.IntN(3000))
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		for j := range msg {
			msg[j] = byte(rng.Uint32())
		}
		m := hmac.New(sha256.New, key)
		m.Write(msg)
		got := hmacSHA256(key, msg)
		if !bytes.Equal(got[:], m.Sum(nil)) {
			t.Fatalf("case %d: key %d bytes, msg %d bytes: mismatch", i, len(key), len(msg))
		}
	}
}

func TestHeaderValues(t *testing.T) {
	h := http.Header{
		"X-Amz-Meta-Foo": {"1", "2"},
		"weird header":   {"raw"}, // Go keeps keys it cannot canonicalise as they are
	}
	if got := headerValues(h, "x-amz-meta-foo"); len(got) != 2 {
		t.Errorf("x-amz-meta-foo = %q", got)
	}
	if got := headerValues(h, "weird header"); len(got) != 1 {
		t.Errorf("weird header = %q", got)
	}
	if got := headerValues(h, "missing"); got != nil {
		t.Errorf("missing = %q", got)
	}
}
