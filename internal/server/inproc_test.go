package server_test

// The in-process suite (inproc_*_test.go): it runs the real http.Handler
// that `nixbucket serve` runs, in this process on an httptest server, and
// drives it with aws-sdk-go-v2, minio-go and hand-signed requests,
// asserting AWS's error codes and XML shapes. The black-box suite that runs
// the built binary with real clients is the e2e package.
//
// Every env records each request's payload mode (x-amz-content-sha256) and
// each response's status, so a test can prove which wire format a client
// really used, and any 5xx answer fails the test that provoked it.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"
	mcreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/nixbucket/nixbucket/internal/fastlane"
	"github.com/nixbucket/nixbucket/internal/server"
)

const region = "us-east-1"

// env is one running server and clients for it.
type env struct {
	t      *testing.T
	cfg    envConfig
	data   string
	srv    *server.Server
	ts     *httptest.Server
	rec    *recorder
	s3     *s3.Client
	mc     *minio.Client
	id     string
	secret string
}

type envConfig struct {
	domain string
	region string
	strict bool
	tls    bool
	blobs  string // blob store URL; "" for the data directory
	// redirect: --redirect-reads
	redirect bool
	meta     string // metadata store URL; empty: the data directory's
	// maxBuckets: --metrics-max-buckets
	maxBuckets int
}

type envOption func(*envConfig)

func withDomain(d string) envOption { return func(c *envConfig) { c.domain = d } }
func withRegion(r string) envOption { return func(c *envConfig) { c.region = r } }
func withStrictRegion() envOption   { return func(c *envConfig) { c.strict = true } }
func withTLS() envOption            { return func(c *envConfig) { c.tls = true } }
func withMetricsMaxBuckets(n int) envOption {
	return func(c *envConfig) { c.maxBuckets = n }
}

// newEnv opens a server on a fresh data directory and serves it on
// 127.0.0.1. Everything is closed when the test ends.
func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, rec: &recorder{}}
	for _, o := range opts {
		o(&e.cfg)
	}
	// The data directory is the only child of its parent, so a test can
	// see whether anything was written beside it.
	e.data = filepath.Join(t.TempDir(), "data")
	t.Cleanup(func() { e.rec.checkNo5xx(t) }) // runs after the server is closed
	e.open()
	return e
}

// open (re)starts the server on e.data.
func (e *env) open() {
	t := e.t
	t.Helper()
	srv, err := server.Open(context.Background(), server.Options{
		Data: e.data, Meta: e.cfg.meta, Blobs: e.cfg.blobs, RedirectReads: e.cfg.redirect, Region: e.cfg.region, Domain: e.cfg.domain, StrictRegion: e.cfg.strict,
		MetricsMaxBuckets: e.cfg.maxBuckets,
		Log:               slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatalf("server.Open: %v", err)
	}
	e.srv = srv
	e.id, e.secret = srv.Root.ID, srv.Root.Secret
	if srv.FirstStart {
		// These tests are about S3: start without the binary cache a
		// first start makes, so listings hold only their own buckets.
		if err := srv.Objects().DeleteBucket(context.Background(), server.DefaultCache); err != nil {
			t.Fatalf("deleting %s: %v", server.DefaultCache, err)
		}
	}
	h := e.rec.wrap(srv.Handler())
	if e.cfg.tls {
		e.ts = httptest.NewTLSServer(h)
	} else {
		// As `nixbucket serve` runs it: fastlane first, net/http for the
		// connections it hands over.
		e.ts = httptest.NewUnstartedServer(h)
		e.ts.Listener = fastlane.NewListener(e.ts.Listener, h, fastlane.Options{})
		e.ts.Start()
	}
	e.s3 = e.newS3(e.id, e.secret)
	e.mc = e.newMinio(false)
	ts := e.ts
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
}

// restart closes the server and opens it again on the same data.
func (e *env) restart() {
	e.t.Helper()
	e.ts.Close()
	if err := e.srv.Close(); err != nil {
		e.t.Fatalf("closing server: %v", err)
	}
	e.open()
}

// host is the server's 127.0.0.1:port.
func (e *env) host() string {
	u, _ := url.Parse(e.ts.URL)
	return u.Host
}

// newS3 builds an aws-sdk-go-v2 client without loading any shared config
// (so AWS_CA_BUNDLE and profiles of the machine play no part) and without
// retries, which would hide errors.
func (e *env) newS3(id, secret string, opts ...func(*s3.Options)) *s3.Client {
	return s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(e.ts.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(id, secret, ""),
		HTTPClient:   e.ts.Client(),
		Retryer:      aws.NopRetryer{},
		// What config.LoadDefaultConfig gives every user since 2025.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	}, opts...)
}

// newMinio builds a path-style minio-go client; trailing enables its
// trailing-checksum support.
func (e *env) newMinio(trailing bool, opts ...func(*minio.Options)) *minio.Client {
	e.t.Helper()
	o := &minio.Options{
		Creds:           mcreds.NewStaticV4(e.id, e.secret, ""),
		Secure:          e.cfg.tls,
		Region:          region,
		BucketLookup:    minio.BucketLookupPath,
		TrailingHeaders: trailing,
		MaxRetries:      1,
		Transport:       e.ts.Client().Transport,
	}
	for _, f := range opts {
		f(o)
	}
	mc, err := minio.New(e.host(), o)
	if err != nil {
		e.t.Fatalf("minio.New: %v", err)
	}
	return mc
}

var bucketSeq struct {
	sync.Mutex
	n int
}

// bucket creates a bucket with a fresh name built from prefix.
func (e *env) bucket(prefix string) string {
	e.t.Helper()
	bucketSeq.Lock()
	bucketSeq.n++
	name := prefix + "-" + strconv.Itoa(bucketSeq.n)
	bucketSeq.Unlock()
	if _, err := e.s3.CreateBucket(ctx(e.t), &s3.CreateBucketInput{Bucket: &name}); err != nil {
		e.t.Fatalf("CreateBucket %s: %v", name, err)
	}
	return name
}

// put stores body under bucket/key with the SDK and returns the ETag.
func (e *env) put(bucket, key string, body []byte, opts ...func(*s3.PutObjectInput)) string {
	e.t.Helper()
	in := &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)}
	for _, f := range opts {
		f(in)
	}
	out, err := e.s3.PutObject(ctx(e.t), in)
	if err != nil {
		e.t.Fatalf("PutObject %s/%q: %v", bucket, key, err)
	}
	return aws.ToString(out.ETag)
}

// get reads bucket/key with the SDK.
func (e *env) get(bucket, key string) []byte {
	e.t.Helper()
	out, err := e.s3.GetObject(ctx(e.t), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		e.t.Fatalf("GetObject %s/%q: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		e.t.Fatalf("reading %s/%q: %v", bucket, key, err)
	}
	return b
}

// absent asserts that bucket/key does not exist.
func (e *env) absent(bucket, key string) {
	e.t.Helper()
	_, err := e.s3.HeadObject(ctx(e.t), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if code(err) != "NotFound" {
		e.t.Fatalf("HeadObject %s/%q after a failed write: got %v, want NotFound", bucket, key, err)
	}
}

// url is the path-style URL of bucket/key with the key escaped as S3
// clients do (every byte but unreserved ones and '/').
func (e *env) url(bucket, key string) string {
	u := e.ts.URL + "/" + bucket
	if key != "" {
		u += "/" + escapeKey(key)
	}
	return u
}

// escapeKey escapes a key for a URL path the way the AWS SDKs do.
func escapeKey(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-._~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}

// request builds a request for a raw URL (path and query already escaped).
func (e *env) request(method, rawURL string, body []byte) *http.Request {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	r, err := http.NewRequestWithContext(ctx(e.t), method, rawURL, rd)
	if err != nil {
		e.t.Fatalf("NewRequest %s %s: %v", method, rawURL, err)
	}
	// Unsigned requests from a client that is no S3 SDK are the
	// binary-cache protocol (plain-text errors, 401 challenges); these
	// tests speak S3.
	r.Header.Set("User-Agent", "aws-sdk-go-v2 (nixbucket e2e)")
	return r
}

// sign signs r with SigV4 for payloadHash (a hex SHA-256 or one of the
// UNSIGNED/STREAMING modes) at time at, and returns the seed signature.
func (e *env) sign(r *http.Request, payloadHash string, at time.Time) string {
	return signAs(e.t, r, e.id, e.secret, payloadHash, at)
}

func signAs(t testing.TB, r *http.Request, id, secret, payloadHash string, at time.Time) string {
	t.Helper()
	r.Header.Set("X-Amz-Content-Sha256", payloadHash)
	err := newSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: id, SecretAccessKey: secret},
		r, payloadHash, "s3", region, at)
	if err != nil {
		t.Fatalf("SignHTTP: %v", err)
	}
	_, sig, _ := strings.Cut(r.Header.Get("Authorization"), "Signature=")
	return sig
}

// newSigner returns a signer that signs as the S3 clients do: the path is
// not escaped twice. A Signer caches derived keys by access key id alone,
// so each signature gets a fresh one: a wrong secret must stay wrong.
func newSigner() *v4.Signer {
	return v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
}

// signBody signs r with the SHA-256 of body and sends it now.
func (e *env) signBody(r *http.Request, body []byte) {
	sum := sha256.Sum256(body)
	e.sign(r, hex.EncodeToString(sum[:]), time.Now())
}

// do sends r with the server's client and returns the status, headers and
// the whole body.
func (e *env) do(r *http.Request) (int, http.Header, []byte) {
	e.t.Helper()
	resp, err := e.ts.Client().Do(r)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("reading response of %s %s: %v", r.Method, r.URL, err)
	}
	return resp.StatusCode, resp.Header, b
}

// s3Error is AWS's XML error document.
type s3Error struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string
	Message   string
	Resource  string
	RequestID string `xml:"RequestId"`
}

// wantError asserts an S3 XML error with the given status and code.
func wantError(t testing.TB, status int, body []byte, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("status %d, want %d (body %.300s)", status, wantStatus, body)
	}
	var e s3Error
	if err := xml.Unmarshal(body, &e); err != nil {
		t.Errorf("error body is not an S3 <Error> document: %v: %.300s", err, body)
		return
	}
	if e.Code != wantCode {
		t.Errorf("error code %q (%s), want %q", e.Code, e.Message, wantCode)
	}
	if e.Message == "" || e.RequestID == "" {
		t.Errorf("error document lacks Message or RequestId: %s", body)
	}
}

// code is the S3 error code of an SDK error, or "" when err is not an API
// error (nil, or a client-side failure).
func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// status is the HTTP status of an SDK error, or 0.
func status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// wantCode asserts that an SDK call failed with code and HTTP status.
func wantCode(t testing.TB, err error, wantCode string, wantStatus int) {
	t.Helper()
	if err == nil {
		t.Errorf("no error, want %s (%d)", wantCode, wantStatus)
		return
	}
	if c := code(err); c != wantCode {
		t.Errorf("error %v: code %q, want %q", err, c, wantCode)
	}
	if s := status(err); s != wantStatus {
		t.Errorf("error %v: status %d, want %d", err, s, wantStatus)
	}
}

// minioCode is the S3 error code of a minio-go error.
func minioCode(err error) string {
	return minio.ToErrorResponse(err).Code
}

// ctx is a context that ends with the test.
func ctx(t testing.TB) context.Context { return t.Context() }

// data returns n deterministic pseudo-random bytes.
func data(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 'n', 'b'})
	r.Read(b)
	return b
}

// signingKey derives the SigV4 key of secret for date (YYYYMMDD).
func signingKey(secret, date string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, "s3")
	return hmacSHA256(k, "aws4_request")
}

// md5b64 is a Content-MD5 value.
func md5b64(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// testWriter sends the server's log lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("server: %s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// dialTo returns a DialContext that connects every address to addr, so a
// client can use any host name (virtual-host addressing) on loopback.
func dialTo(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	var d net.Dialer
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
}
