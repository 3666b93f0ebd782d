package sigv4

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/nixbucket/nixbucket/internal/checksum"
)

// recorder collects the verdicts of a test server.
type recorder struct {
	mu       sync.Mutex
	verdicts []verdict
}

func (r *recorder) add(v verdict) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.verdicts = append(r.verdicts, v)
}

// take returns and clears the verdicts.
func (r *recorder) take() []verdict {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := r.verdicts
	r.verdicts = nil
	return v
}

// checkUpload asserts that exactly the requests seen verified, and that
// the PUT among them carried data, with a correct checksum trailer when
// its mode has one.
func checkUpload(t *testing.T, got []verdict, data []byte, wantMode string) {
	t.Helper()
	puts := 0
	for _, v := range got {
		if v.Code != "" {
			t.Fatalf("%s request (%s) failed: %s: %s", v.Method, v.Mode, v.Code, v.Message)
		}
		if v.Method != "PUT" {
			continue
		}
		puts++
		if v.BodyLen != int64(len(data)) || v.BodySHA256 != sha256Hex(data) {
			t.Fatalf("PUT (%s) decoded %d bytes, hash %s", v.Mode, v.BodyLen, v.BodySHA256)
		}
		if wantMode != "" && v.Mode != wantMode {
			t.Fatalf("PUT used %s, want %s", v.Mode, wantMode)
		}
		checkTrailerValues(t, v, data)
	}
	if puts != 1 {
		t.Fatalf("%d PUTs seen", puts)
	}
}

// checkTrailerValues asserts that a PUT in a trailer mode decoded a
// trailer of one x-amz-checksum-* header whose value is data's checksum,
// and that other modes decoded none.
func checkTrailerValues(t *testing.T, v verdict, data []byte) {
	t.Helper()
	if v.Mode != streamingSignedTrailer && v.Mode != streamingUnsignedTrailer {
		if len(v.Trailer) != 0 {
			t.Fatalf("PUT (%s) has no trailer, but one was decoded: %v", v.Mode, v.Trailer)
		}
		return
	}
	if len(v.Trailer) != 1 {
		t.Fatalf("PUT (%s) trailer %v, want one checksum", v.Mode, v.Trailer)
	}
	for name, values := range v.Trailer {
		alg := checksum.FromHeader(name)
		if alg == "" || len(values) != 1 {
			t.Fatalf("PUT (%s) trailer %s: %q, want one x-amz-checksum-* value", v.Mode, name, values)
		}
		h := alg.New()
		h.Write(data)
		if want := checksum.Encode(h.Sum(nil)); values[0] != want {
			t.Fatalf("PUT (%s) trailer %s = %s, want %s", v.Mode, name, values[0], want)
		}
	}
}

func TestMinioClient(t *testing.T) {
	data := randomData(rand.New(rand.NewPCG(5, 6)), 10<<20)
	var rec recorder
	v := newTestVerifier(time.Now())
	for _, tc := range []struct {
		name     string
		tls      bool
		trailers bool
		opts     minio.PutObjectOptions
		mode     string
	}{
		{"http", false, false, minio.PutObjectOptions{}, streamingSigned},
		{"http trailer", false, true, minio.PutObjectOptions{Checksum: minio.ChecksumCRC32C}, streamingSignedTrailer},
		{"http unsigned", false, false, minio.PutObjectOptions{DisableContentSha256: true}, unsignedPayload},
		{"https trailer", true, true, minio.PutObjectOptions{Checksum: minio.ChecksumCRC64NVME}, streamingUnsignedTrailer},
		{"https", true, false, minio.PutObjectOptions{}, unsignedPayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := verifyHandler(v, rec.add)
			srv := httptest.NewUnstartedServer(h)
			if tc.tls {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			u, _ := url.Parse(srv.URL)
			mc, err := minio.New(u.Host, &minio.Options{
				Creds:           miniocreds.NewStaticV4(testAK, testSecret, ""),
				Secure:          tc.tls,
				Region:          "eu-west-2",
				Transport:       srv.Client().Transport,
				TrailingHeaders: tc.trailers,
				BucketLookup:    minio.BucketLookupPath,
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if _, err := mc.PutObject(ctx, "bucket", "nar/ünï +~.nar", bytes.NewReader(data), int64(len(data)), tc.opts); err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			checkUpload(t, rec.take(), data, tc.mode)

			obj, err := mc.GetObject(ctx, "bucket", "nar/ünï +~.nar", minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, obj)
			obj.Close()
			for _, p := range []struct {
				method string
				sign   func() (*url.URL, error)
			}{
				{"GET", func() (*url.URL, error) { return mc.PresignedGetObject(ctx, "bucket", "a b/c+d", time.Hour, nil) }},
				{"PUT", func() (*url.URL, error) { return mc.PresignedPutObject(ctx, "bucket", "a b/c+d", time.Hour) }},
			} {
				pu, err := p.sign()
				if err != nil {
					t.Fatal(err)
				}
				req, _ := http.NewRequest(p.method, pu.String(), strings.NewReader("presigned body"))
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			for _, got := range rec.take() {
				if got.Code != "" {
					t.Fatalf("%s (%s): %s: %s", got.Method, got.Mode, got.Code, got.Message)
				}
			}
		})
	}
}

func TestAWSSDKClient(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "")
	data := randomData(rand.New(rand.NewPCG(8, 9)), 10<<20)
	var rec recorder
	v := newTestVerifier(time.Now())
	for _, tc := range []struct {
		name     string
		tls      bool
		seekable bool
		checksum types.ChecksumAlgorithm
	}{
		{"http", false, true, ""},
		{"https", true, true, ""},
		{"https stream", true, false, ""},
		{"https stream crc32", true, false, types.ChecksumAlgorithmCrc32},
		{"https crc64nvme", true, true, types.ChecksumAlgorithmCrc64nvme},
		{"http sha256", false, true, types.ChecksumAlgorithmSha256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(verifyHandler(v, rec.add))
			if tc.tls {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			client := s3.New(s3.Options{
				Region:       "eu-west-2",
				BaseEndpoint: aws.String(srv.URL),
				UsePathStyle: true,
				Credentials:  credentials.NewStaticCredentialsProvider(testAK, testSecret, ""),
				HTTPClient:   srv.Client(),
			})
			ctx := context.Background()
			var body io.Reader = bytes.NewReader(data)
			if !tc.seekable {
				body = struct{ io.Reader }{bytes.NewReader(data)}
			}
			_, err := client.PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String("bucket"), Key: aws.String("nar/ünï +~=.nar"),
				Body: body, ContentLength: aws.Int64(int64(len(data))), ChecksumAlgorithm: tc.checksum,
			})
			if err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			checkUpload(t, rec.take(), data, "")

			out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String("a/b c")})
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, out.Body)
			out.Body.Close()

			pc := s3.NewPresignClient(client)
			pg, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String("x/ü+y")},
				s3.WithPresignExpires(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			pp, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String("x/ü+y")})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []struct {
				method, url string
				hdr         http.Header
			}{{pg.Method, pg.URL, pg.SignedHeader}, {pp.Method, pp.URL, pp.SignedHeader}} {
				req, _ := http.NewRequest(p.method, p.url, strings.NewReader("presigned"))
				for k, vs := range p.hdr {
					if k != "Host" {
						req.Header[k] = vs
					}
				}
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			for _, got := range rec.take() {
				if got.Code != "" {
					t.Fatalf("%s (%s): %s: %s", got.Method, got.Mode, got.Code, got.Message)
				}
			}
		})
	}
}

// botoScript drives boto3 against the test server with SigV2 and SigV4:
// put_object (also from a non-seekable stream, which botocore sends
// aws-chunked over https), get_object, head_bucket, and presigned GET URLs
// (of objects and of a listing) it prints as JSON.
const botoScript = `
import json, sys
import boto3
from botocore.client import Config
endpoint, ak, sk, ca = sys.argv[1:5]

class Stream:
    def __init__(self, data):
        self.data = data
    def read(self, n=-1):
        if n is None or n < 0:
            n = len(self.data)
        chunk, self.data = self.data[:n], self.data[n:]
        return chunk

keys = ["plain.txt", "a key/ünï+~=.nar", "x!$&'()*,;:@y"]
urls = []
for sv in ["s3", "s3v4"]:
    c = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ak, aws_secret_access_key=sk,
                     region_name="us-east-1", verify=ca or None,
                     config=Config(signature_version=sv, s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    for k in keys:
        c.put_object(Bucket="bucket", Key=k, Body=b"boto body")
        c.get_object(Bucket="bucket", Key=k)["Body"].read()
        urls.append(c.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": k}, ExpiresIn=300))
    if sv == "s3v4" and endpoint.startswith("https"):
        c.put_object(Bucket="bucket", Key="streamed", Body=Stream(b"boto body"))
    urls.append(c.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "k",
        "ResponseContentDisposition": "attachment; filename=a b.txt"}, ExpiresIn=300))
    # Requests to the bucket itself, which SigV2 signs as "/bucket/".
    c.head_bucket(Bucket="bucket")
    urls.append(c.generate_presigned_url("list_objects_v2", Params={"Bucket": "bucket", "Prefix": "a"}, ExpiresIn=300))
json.dump(urls, sys.stdout)
`

func TestBoto3(t *testing.T) {
	py := needTool(t, "python3", "-c", "import boto3")
	script := filepath.Join(t.TempDir(), "boto_test.py")
	if err := os.WriteFile(script, []byte(botoScript), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, useTLS := range []bool{false, true} {
		t.Run("tls="+strconv.FormatBool(useTLS), func(t *testing.T) {
			var rec recorder
			v := newTestVerifier(time.Now())
			srv := httptest.NewUnstartedServer(verifyHandler(v, rec.add))
			ca := ""
			if useTLS {
				srv.StartTLS()
				ca = filepath.Join(t.TempDir(), "ca.pem")
				pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
				if err := os.WriteFile(ca, pemCert, 0o600); err != nil {
					t.Fatal(err)
				}
			} else {
				srv.Start()
			}
			defer srv.Close()
			cmd := exec.Command(py, script, srv.URL, testAK, testSecret, ca)
			cmd.Env = append(os.Environ(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_CA_BUNDLE=")
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("boto3 script: %v; server saw %+v", err, rec.take())
			}
			modes := map[string]bool{}
			for _, got := range rec.take() {
				if got.Code != "" {
					t.Fatalf("boto3 %s (%s, v%d): %s: %s", got.Method, got.Mode, got.Version, got.Code, got.Message)
				}
				if got.Method == "PUT" && got.BodyLen != int64(len("boto body")) {
					t.Fatalf("PUT (%s) decoded %d bytes", got.Mode, got.BodyLen)
				}
				modes[got.Method+" "+got.Mode] = true
			}
			t.Logf("boto3 requests: %v", modes)
			var urls []string
			if err := json.Unmarshal(out, &urls); err != nil {
				t.Fatal(err)
			}
			if len(urls) != 10 {
				t.Fatalf("%d presigned URLs", len(urls))
			}
			for _, u := range urls {
				req, _ := http.NewRequest("GET", u, nil)
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			for _, got := range rec.take() {
				if got.Code != "" || got.AccessKey != testAK {
					t.Fatalf("presigned GET: %+v", got)
				}
			}
		})
	}
}
