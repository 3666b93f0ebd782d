package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"testing"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// BenchmarkVerifyGET measures Verify on a header-signed GET as aws-sdk-go-v2
// sends one; "sdk-sign" signs the same request with the SDK as the peer to
// compare against (signing and verifying do the same work).
func BenchmarkVerifyGET(b *testing.B) {
	r, err := http.NewRequest("GET", "http://127.0.0.1:9000/cache/0123456789abcdfghijklmnpqrsvwxyz.narinfo?x-id=GetObject", nil)
	if err != nil {
		b.Fatal(err)
	}
	r.Header.Set("User-Agent", "aws-sdk-go-v2/1.48.0")
	r.Header.Set("Amz-Sdk-Invocation-Id", "2d9f1c1e-8d3e-4a0e-9f5c-6a2f0e1b3c4d")
	r.Header.Set("Accept-Encoding", "identity")
	r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	sign := func() {
		if err := v4.NewSigner().SignHTTP(context.Background(), testCreds, r, emptySHA256, "s3", "us-east-1", testTime, s3Escaping); err != nil {
			b.Fatal(err)
		}
	}
	sign()
	v := newTestVerifier(testTime)
	if _, err := v.Verify(r); err != nil {
		b.Fatal(err)
	}
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sdk-sign", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sign()
		}
	})
}

// BenchmarkChunkedSigned measures decoding a signed aws-chunked body with
// 64 KiB chunks; "sha256" hashes the same payload once, the floor any
// signed-chunk decoder pays.
func BenchmarkChunkedSigned(b *testing.B) {
	data := bytes.Repeat([]byte("nixbucket"), 4<<20/9)
	body := encodeChunked(data, testSigner(), encodeOpts{sizes: []int{64 << 10}})
	p := chunkParams{signed: true, amzDate: testTime.Format(amzDateLayout),
		scope: testTime.Format("20060102") + "/us-east-1/s3/aws4_request", declared: int64(len(data))}
	copy(p.key[:], refSigningKey(testSecret, testTime.Format("20060102"), "us-east-1"))
	mustHex(b, p.seed[:], testSigner().prev)
	buf := make([]byte, 32<<10)
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			cr := newChunkedReader(bytes.NewReader(body), p)
			if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{cr}, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sha256", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			sha256.Sum256(data)
		}
	})
}
