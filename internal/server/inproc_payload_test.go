package server_test

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
)

var checksumAlgorithms = []types.ChecksumAlgorithm{
	types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc64nvme,
	types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256,
}

// checksumOf computes an S3 checksum independently of the server.
func checksumOf(alg types.ChecksumAlgorithm, b []byte) string {
	var h hash.Hash
	switch alg {
	case types.ChecksumAlgorithmCrc32:
		h = crc32.NewIEEE()
	case types.ChecksumAlgorithmCrc32c:
		h = crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case types.ChecksumAlgorithmCrc64nvme:
		h = crc64.New(crc64.MakeTable(0x9a6c9329ac4bc9b5))
	case types.ChecksumAlgorithmSha1:
		h = sha1.New()
	case types.ChecksumAlgorithmSha256:
		h = sha256.New()
	default:
		panic("unknown algorithm " + alg)
	}
	h.Write(b)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func TestChecksumOfVectors(t *testing.T) {
	// The CRC catalogue's check values for "123456789".
	for alg, want := range map[types.ChecksumAlgorithm]string{
		types.ChecksumAlgorithmCrc32:     "cbf43926",
		types.ChecksumAlgorithmCrc32c:    "e3069283",
		types.ChecksumAlgorithmCrc64nvme: "ae8b14860a799888",
	} {
		sum, _ := base64.StdEncoding.DecodeString(checksumOf(alg, []byte("123456789")))
		if hex.EncodeToString(sum) != want {
			t.Errorf("%s(123456789) = %x, want %s", alg, sum, want)
		}
	}
}

// TestPayloadModes stores an object by each payload mode, with the client
// that produces it, and checks that the mode really was the one sent.
func TestPayloadModes(t *testing.T) {
	t.Parallel()
	plain := newEnv(t)
	secure := newEnv(t, withTLS())
	pb, sb := plain.bucket("modes"), secure.bucket("modes")
	body := data(50, 200<<10+3) // several 64 KiB minio-go chunks
	for _, tc := range []struct {
		name  string
		e     *env
		put   func(t *testing.T, e *env, b, key string) error
		mode  string
		check func(t *testing.T, x exchange)
	}{
		{
			name: "sdk signed sha256 over http", e: plain, mode: "<sha256>",
			put: func(t *testing.T, e *env, b, key string) error {
				_, err := e.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &b, Key: &key, Body: bytes.NewReader(body)})
				return err
			},
			check: func(t *testing.T, x exchange) {
				if !slices.Contains(x.Checksums, "x-amz-checksum-crc32") {
					t.Errorf("the SDK sent no x-amz-checksum-crc32 header: %v", x.Checksums)
				}
			},
		},
		{
			name: "sdk UNSIGNED-PAYLOAD", e: plain, mode: "UNSIGNED-PAYLOAD",
			put: func(t *testing.T, e *env, b, key string) error {
				c := e.newS3(e.id, e.secret, func(o *s3.Options) {
					// The checksum middleware would sign the payload's hash.
					o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
					o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
				})
				_, err := c.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &b, Key: &key, Body: bytes.NewReader(body)})
				return err
			},
		},
		{
			name: "minio-go STREAMING-AWS4-HMAC-SHA256-PAYLOAD", e: plain, mode: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
			put: func(t *testing.T, e *env, b, key string) error {
				_, err := e.mc.PutObject(ctx(t), b, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
				return err
			},
		},
		{
			name: "minio-go STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", e: plain, mode: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
			put: func(t *testing.T, e *env, b, key string) error {
				_, err := e.newMinio(true).PutObject(ctx(t), b, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{Checksum: minio.ChecksumCRC32C})
				return err
			},
			check: func(t *testing.T, x exchange) {
				if !strings.EqualFold(x.Trailer, "x-amz-checksum-crc32c") {
					t.Errorf("x-amz-trailer %q", x.Trailer)
				}
			},
		},
		{
			name: "minio-go STREAMING-UNSIGNED-PAYLOAD-TRAILER", e: plain, mode: "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
			put: func(t *testing.T, e *env, b, key string) error {
				_, err := e.newMinio(true).PutObject(ctx(t), b, key, bytes.NewReader(body), int64(len(body)),
					minio.PutObjectOptions{Checksum: minio.ChecksumSHA256, DisableContentSha256: true})
				return err
			},
		},
		{
			name: "sdk STREAMING-UNSIGNED-PAYLOAD-TRAILER over https", e: secure, mode: "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
			put: func(t *testing.T, e *env, b, key string) error {
				// A body that cannot seek, of known length.
				_, err := e.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &b, Key: &key, Body: io.MultiReader(bytes.NewReader(body)),
					ContentLength: aws.Int64(int64(len(body))), ContentEncoding: aws.String("gzip")})
				return err
			},
			check: func(t *testing.T, x exchange) {
				if !strings.Contains(x.ContentEncoding, "aws-chunked") || !strings.EqualFold(x.Trailer, "x-amz-checksum-crc32") {
					t.Errorf("Content-Encoding %q, x-amz-trailer %q", x.ContentEncoding, x.Trailer)
				}
			},
		},
		{
			name: "minio-go UNSIGNED-PAYLOAD over https", e: secure, mode: "UNSIGNED-PAYLOAD",
			put: func(t *testing.T, e *env, b, key string) error {
				_, err := e.mc.PutObject(ctx(t), b, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
				return err
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.e
			b := pb
			if e == secure {
				b = sb
			}
			key := strings.ReplaceAll(tc.name, " ", "/")
			mark := e.rec.mark()
			if err := tc.put(t, e, b, key); err != nil {
				t.Fatalf("put: %v", err)
			}
			var puts []exchange
			for _, x := range e.rec.since(mark) {
				if x.Method == http.MethodPut {
					puts = append(puts, x)
				}
			}
			if modes := e.rec.modes(mark); len(modes) != 1 || modes[0] != tc.mode {
				t.Fatalf("the client sent payload modes %q, want one PUT with %q", modes, tc.mode)
			}
			if tc.check != nil {
				tc.check(t, puts[0])
			}
			if got := e.get(b, key); !bytes.Equal(got, body) {
				t.Fatalf("stored object differs: %d bytes", len(got))
			}
			h, err := e.s3.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: &b, Key: &key})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(h.ETag) != `"`+md5hex(body)+`"` {
				t.Errorf("ETag %s, want the MD5 of the decoded body", aws.ToString(h.ETag))
			}
			if ce := aws.ToString(h.ContentEncoding); strings.Contains(ce, "aws-chunked") {
				t.Errorf("stored Content-Encoding %q keeps aws-chunked", ce)
			}
		})
	}
	// The https SDK upload asked for gzip beside aws-chunked: gzip stays.
	h, err := secure.s3.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: &sb, Key: aws.String("sdk/STREAMING-UNSIGNED-PAYLOAD-TRAILER/over/https")})
	if err != nil || aws.ToString(h.ContentEncoding) != "gzip" {
		t.Errorf("Content-Encoding %q (%v), want gzip", aws.ToString(h.ContentEncoding), err)
	}
}

// TestChecksums stores an object with each S3 checksum, as a header (http)
// and as a trailer (https, and minio-go's signed trailer), and reads it back.
func TestChecksums(t *testing.T) {
	t.Parallel()
	plain := newEnv(t)
	secure := newEnv(t, withTLS())
	pb, sb := plain.bucket("crc"), secure.bucket("crc")
	body := data(60, 100<<10+1)
	for _, alg := range checksumAlgorithms {
		want := checksumOf(alg, body)
		for _, e := range []*env{plain, secure} {
			b, how := pb, "header"
			if e == secure {
				b, how = sb, "trailer"
			}
			t.Run(string(alg)+"/sdk/"+how, func(t *testing.T) {
				key := "sdk-" + string(alg)
				mark := e.rec.mark()
				out, err := e.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &b, Key: &key, Body: bytes.NewReader(body), ChecksumAlgorithm: alg})
				if err != nil {
					t.Fatalf("PutObject: %v", err)
				}
				x := e.rec.since(mark)[0]
				hdr := "x-amz-checksum-" + strings.ToLower(string(alg))
				if how == "header" && !slices.Contains(x.Checksums, hdr) || how == "trailer" && !strings.EqualFold(x.Trailer, hdr) {
					t.Errorf("the SDK sent checksum headers %v, trailer %q; want the %s as a %s", x.Checksums, x.Trailer, hdr, how)
				}
				if got := objectChecksum(alg, out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME, out.ChecksumSHA1, out.ChecksumSHA256); got != want {
					t.Errorf("PutObject returned checksum %q, want %q", got, want)
				}
				h, err := e.s3.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: &b, Key: &key, ChecksumMode: types.ChecksumModeEnabled})
				if err != nil {
					t.Fatal(err)
				}
				if got := objectChecksum(alg, h.ChecksumCRC32, h.ChecksumCRC32C, h.ChecksumCRC64NVME, h.ChecksumSHA1, h.ChecksumSHA256); got != want {
					t.Errorf("HeadObject checksum %q, want %q", got, want)
				}
				// GetObject with checksum mode: the SDK validates the body.
				g, err := e.s3.GetObject(ctx(t), &s3.GetObjectInput{Bucket: &b, Key: &key, ChecksumMode: types.ChecksumModeEnabled})
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(g.Body)
				g.Body.Close()
				if err != nil || !bytes.Equal(got, body) {
					t.Errorf("GetObject: %d bytes, %v", len(got), err)
				}
			})
		}
		t.Run(string(alg)+"/minio-go/signed trailer", func(t *testing.T) {
			key := "minio-" + string(alg)
			mark := plain.rec.mark()
			info, err := plain.newMinio(true).PutObject(ctx(t), pb, key, bytes.NewReader(body), int64(len(body)),
				minio.PutObjectOptions{Checksum: minioChecksum(alg)})
			if err != nil {
				t.Fatalf("minio PutObject: %v", err)
			}
			if m := plain.rec.modes(mark); len(m) != 1 || m[0] != "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" {
				t.Errorf("modes %q", m)
			}
			got := map[types.ChecksumAlgorithm]string{
				types.ChecksumAlgorithmCrc32: info.ChecksumCRC32, types.ChecksumAlgorithmCrc32c: info.ChecksumCRC32C,
				types.ChecksumAlgorithmCrc64nvme: info.ChecksumCRC64NVME, types.ChecksumAlgorithmSha1: info.ChecksumSHA1,
				types.ChecksumAlgorithmSha256: info.ChecksumSHA256,
			}[alg]
			if got != want {
				t.Errorf("minio-go got checksum %q back, want %q", got, want)
			}
		})
	}
}

func minioChecksum(alg types.ChecksumAlgorithm) minio.ChecksumType {
	return map[types.ChecksumAlgorithm]minio.ChecksumType{
		types.ChecksumAlgorithmCrc32: minio.ChecksumCRC32, types.ChecksumAlgorithmCrc32c: minio.ChecksumCRC32C,
		types.ChecksumAlgorithmCrc64nvme: minio.ChecksumCRC64NVME, types.ChecksumAlgorithmSha1: minio.ChecksumSHA1,
		types.ChecksumAlgorithmSha256: minio.ChecksumSHA256,
	}[alg]
}

func objectChecksum(alg types.ChecksumAlgorithm, crc32, crc32c, crc64, sha1, sha256 *string) string {
	return partChecksum(alg, crc32, crc32c, crc64, sha1, sha256)
}

// TestBadDigests sends bodies that do not match what the request claims.
// Each is refused with AWS's code and stores nothing.
func TestBadDigests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("digest")
	c := ctx(t)
	body := []byte("the body that was sent")
	other := []byte("some other body")
	put := func(key string, f func(*s3.PutObjectInput)) error {
		in := &s3.PutObjectInput{Bucket: &b, Key: aws.String(key), Body: bytes.NewReader(body)}
		f(in)
		_, err := e.s3.PutObject(c, in)
		return err
	}

	if err := put("md5-right", func(in *s3.PutObjectInput) { in.ContentMD5 = aws.String(md5b64(body)) }); err != nil {
		t.Errorf("right Content-MD5: %v", err)
	}
	err := put("md5-wrong", func(in *s3.PutObjectInput) { in.ContentMD5 = aws.String(md5b64(other)) })
	wantCode(t, err, "BadDigest", http.StatusBadRequest)
	e.absent(b, "md5-wrong")
	err = put("md5-invalid", func(in *s3.PutObjectInput) { in.ContentMD5 = aws.String("bm90IGFuIG1kNQ==") })
	wantCode(t, err, "InvalidDigest", http.StatusBadRequest)
	e.absent(b, "md5-invalid")

	for _, alg := range checksumAlgorithms {
		key := "crc-wrong-" + string(alg)
		err := put(key, func(in *s3.PutObjectInput) {
			v := aws.String(checksumOf(alg, other))
			switch alg {
			case types.ChecksumAlgorithmCrc32:
				in.ChecksumCRC32 = v
			case types.ChecksumAlgorithmCrc32c:
				in.ChecksumCRC32C = v
			case types.ChecksumAlgorithmCrc64nvme:
				in.ChecksumCRC64NVME = v
			case types.ChecksumAlgorithmSha1:
				in.ChecksumSHA1 = v
			case types.ChecksumAlgorithmSha256:
				in.ChecksumSHA256 = v
			}
		})
		wantCode(t, err, "BadDigest", http.StatusBadRequest)
		e.absent(b, key)
	}

	// Hand-signed requests.
	raw := func(key string, prep func(r *http.Request)) (int, []byte) {
		r := e.request(http.MethodPut, e.url(b, key), body)
		prep(r)
		st, _, resp := e.do(r)
		return st, resp
	}
	st, resp := raw("sha-wrong", func(r *http.Request) {
		sum := sha256.Sum256(other)
		e.sign(r, hex.EncodeToString(sum[:]), time.Now())
	})
	wantError(t, st, resp, http.StatusBadRequest, "XAmzContentSHA256Mismatch")
	e.absent(b, "sha-wrong")
	st, resp = raw("two-checksums", func(r *http.Request) {
		r.Header.Set("x-amz-checksum-crc32", checksumOf(types.ChecksumAlgorithmCrc32, body))
		r.Header.Set("x-amz-checksum-sha1", checksumOf(types.ChecksumAlgorithmSha1, body))
		e.signBody(r, body)
	})
	wantError(t, st, resp, http.StatusBadRequest, "InvalidRequest")
	e.absent(b, "two-checksums")
	st, resp = raw("bad-sha-header", func(r *http.Request) { e.sign(r, "not-a-hash", time.Now()) })
	if st != http.StatusBadRequest {
		t.Errorf("x-amz-content-sha256 not-a-hash: %d %s, want 400", st, resp)
	}
	e.absent(b, "bad-sha-header")
	// Content-Length longer than the body the signature covers.
	st, resp = raw("short", func(r *http.Request) {
		r.Body = io.NopCloser(bytes.NewReader(body[:5]))
		r.ContentLength = 5
		e.signBody(r, body)
	})
	wantError(t, st, resp, http.StatusBadRequest, "XAmzContentSHA256Mismatch")
	e.absent(b, "short")
}
