package server_test

import (
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// withBlobs keeps the server's blobs in the store url names.
func withBlobs(url string) envOption { return func(c *envConfig) { c.blobs = url } }

// s3BlobsEnv is a server on SQLite metadata and blobs under the prefix
// "nb" of a fresh bucket of the test S3 store (versitygw), reached with
// the AWS default credential chain as `serve --blobs` is.
type s3BlobsEnv struct {
	*env
	store *testenv.S3
	dir   string // the store bucket's directory, where versitygw keeps the blobs
}

func newS3BlobsEnv(t *testing.T) *s3BlobsEnv {
	t.Helper()
	return newS3BlobsEnvOpts(t)
}

func newS3BlobsEnvOpts(t *testing.T, opts ...envOption) *s3BlobsEnv {
	t.Helper()
	st := testenv.S3Store(t)
	bucket := st.NewBucket(t)
	useStoreCredentials(t, st)
	e := newEnv(t, append(opts, withBlobs("s3://"+bucket+"/nb?endpoint="+st.Endpoint))...)
	return &s3BlobsEnv{env: e, store: st, dir: st.ObjectPath(bucket, "nb/blobs")}
}

// useStoreCredentials puts the test S3 store's key pair in the environment,
// where the AWS default credential chain of a server finds it, and nothing
// of the machine's.
func useStoreCredentials(t *testing.T, st *testenv.S3) {
	t.Helper()
	for _, kv := range [][2]string{
		{"AWS_ACCESS_KEY_ID", st.AccessKey}, {"AWS_SECRET_ACCESS_KEY", st.SecretKey},
		{"AWS_CONFIG_FILE", "/nonexistent"}, {"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"},
		{"AWS_PROFILE", ""}, {"AWS_CA_BUNDLE", ""},
	} {
		t.Setenv(kv[0], kv[1])
	}
}

// blobFiles lists the blobs in the store, as versitygw keeps them.
func (e *s3BlobsEnv) blobFiles() []string {
	e.t.Helper()
	var files []string
	filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	return files
}

// take5xx removes the 5xx answers recorded so far, which the test
// provoked on purpose, and returns how many there were.
func (rec *recorder) take5xx() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	n := 0
	kept := rec.list[:0]
	for _, x := range rec.list {
		if x.Status >= 500 {
			n++
			continue
		}
		kept = append(kept, x)
	}
	rec.list = kept
	return n
}

// TestS3Blobs runs PUT, GET, Range, multipart and DELETE through the
// aws SDK against a server keeping its blobs in an S3 store.
func TestS3Blobs(t *testing.T) {
	e := newS3BlobsEnv(t)
	b := e.bucket("s3blobs")
	small, mid := data(1, 1000), data(2, 300<<10)
	e.put(b, "small", small)
	e.put(b, "mid", mid)
	if n := len(e.blobFiles()); n != 1 {
		t.Errorf("%d blobs in the store after a small (inline) and a 300 KiB PUT, want 1", n)
	}
	if got := e.get(b, "mid"); !bytes.Equal(got, mid) {
		t.Fatalf("GET mid: %d bytes, want %d", len(got), len(mid))
	}
	rangeGet := func(key, rng string, want []byte) {
		t.Helper()
		out, err := e.s3.GetObject(ctx(t), &s3.GetObjectInput{Bucket: &b, Key: &key, Range: &rng})
		if err != nil {
			t.Fatalf("GET %s %s: %v", key, rng, err)
		}
		defer out.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(out.Body)
		if !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("GET %s %s: %d bytes, not the %d wanted", key, rng, buf.Len(), len(want))
		}
	}
	rangeGet("mid", "bytes=1000-2999", mid[1000:3000])
	rangeGet("mid", "bytes=-10", mid[len(mid)-10:])

	// Multipart: two parts, each its own blob.
	key := "mp"
	p1, p2 := data(3, 5<<20), data(4, 1<<20+7)
	cr, err := e.s3.CreateMultipartUpload(ctx(t), &s3.CreateMultipartUploadInput{Bucket: &b, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i, p := range [][]byte{p1, p2} {
		out, err := e.s3.UploadPart(ctx(t), &s3.UploadPartInput{Bucket: &b, Key: &key, UploadId: cr.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatalf("UploadPart %d: %v", i+1, err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
	}
	if _, err := e.s3.CompleteMultipartUpload(ctx(t), &s3.CompleteMultipartUploadInput{Bucket: &b, Key: &key,
		UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	whole := append(append([]byte{}, p1...), p2...)
	if got := e.get(b, key); !bytes.Equal(got, whole) {
		t.Fatalf("GET mp: %d bytes, want %d", len(got), len(whole))
	}
	rangeGet(key, "bytes=5242870-5242889", whole[5<<20-10:5<<20+10])

	// The metadata stays in the data directory, the blobs in the store:
	// a restarted server serves both.
	e.restart()
	if got := e.get(b, "mid"); !bytes.Equal(got, mid) {
		t.Fatalf("GET mid after a restart: %d bytes, want %d", len(got), len(mid))
	}
	for _, k := range []string{"small", "mid", key} {
		if _, err := e.s3.DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: &b, Key: aws.String(k)}); err != nil {
			t.Fatalf("DELETE %s: %v", k, err)
		}
		e.absent(b, k)
	}
	if files := e.blobFiles(); len(files) != 0 {
		t.Errorf("%d blobs left in the store after every object was deleted: %q", len(files), files)
	}
}

// TestS3BlobsTruncated: a blob cut short or removed behind the server's
// back gets an error before any header, over S3 and the binary-cache
// protocol, never a 200 whose body ends early.
func TestS3BlobsTruncated(t *testing.T) {
	e := newS3BlobsEnv(t)
	b := e.bucket("trunc")
	body := data(5, 300<<10)
	e.put(b, "nar/short.nar", body)
	files := e.blobFiles()
	if len(files) != 1 {
		t.Fatalf("%d blobs in the store, want 1", len(files))
	}
	get := func(what, rng string) {
		t.Helper()
		r := e.request(http.MethodGet, e.url(b, "nar/short.nar"), nil)
		if rng != "" {
			r.Header.Set("Range", rng)
		}
		e.sign(r, "UNSIGNED-PAYLOAD", time.Now())
		status, _, got := e.do(r)
		if status < 500 {
			t.Errorf("GET (%s, Range %q) = %d with %d bytes, want a 5xx", what, rng, status, len(got))
		}
	}
	if err := os.WriteFile(files[0], body[:1000], 0o644); err != nil {
		t.Fatal(err)
	}
	get("truncated", "")
	get("truncated", "bytes=0-99")
	if err := os.Remove(files[0]); err != nil {
		t.Fatal(err)
	}
	get("removed", "")
	if n := e.rec.take5xx(); n != 3 {
		t.Errorf("%d 5xx answers, want 3", n)
	}
}

// TestRedirectReads: with --redirect-reads a GET of a NAR stored as one
// blob is a 307 to a presigned URL of the store, briefly cacheable, whose
// answer carries the NAR's type and immutable caching; a Range sent there
// is served by the store; other keys and multi-part NARs are streamed.
func TestRedirectReads(t *testing.T) {
	e := newS3BlobsEnvOpts(t, func(c *envConfig) { c.redirect = true })
	b := e.bucket("redirect")
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + b + `/*"}]}`
	if _, err := e.s3.PutBucketPolicy(ctx(t), &s3.PutBucketPolicyInput{Bucket: &b, Policy: &policy}); err != nil {
		t.Fatalf("PutBucketPolicy: %v", err)
	}
	nar := data(6, 300<<10)
	e.put(b, "nar/one.nar", nar, func(in *s3.PutObjectInput) { in.ContentType = aws.String("application/x-nix-nar") })
	e.put(b, "other", nar)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	anonGet := func(url, rng string) *http.Response {
		t.Helper()
		r, _ := http.NewRequest(http.MethodGet, url, nil)
		r.Header.Set("User-Agent", "curl/8")
		if rng != "" {
			r.Header.Set("Range", rng)
		}
		resp, err := noFollow.Do(r)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := anonGet(e.url(b, "nar/one.nar"), "")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, e.store.Endpoint+"/") {
		t.Fatalf("GET nar/one.nar = %s, Location %q; want 307 to the store %s", resp.Status, loc, e.store.Endpoint)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "private, max-age=60" {
		t.Errorf("307 Cache-Control = %q, want private, max-age=60", cc)
	}
	if et := resp.Header.Get("ETag"); et != "" {
		t.Errorf("307 carries the object's ETag %s", et)
	}
	direct := anonGet(loc, "")
	got, _ := io.ReadAll(direct.Body)
	if direct.StatusCode != 200 || !bytes.Equal(got, nar) {
		t.Fatalf("GET Location = %s with %d bytes, want 200 and the NAR", direct.Status, len(got))
	}
	if ct, cc := direct.Header.Get("Content-Type"), direct.Header.Get("Cache-Control"); ct != "application/x-nix-nar" || cc != "public, max-age=31536000, immutable" {
		t.Errorf("the store answers with Content-Type %q, Cache-Control %q; want the NAR's and immutable", ct, cc)
	}
	ranged := anonGet(loc, "bytes=100-199")
	got, _ = io.ReadAll(ranged.Body)
	if ranged.StatusCode != http.StatusPartialContent || !bytes.Equal(got, nar[100:200]) {
		t.Errorf("Range GET of Location = %s with %d bytes, want 206 and 100 bytes", ranged.Status, len(got))
	}
	// Not a NAR, or a NAR of several blobs: streamed.
	if resp := anonGet(e.url(b, "other"), ""); resp.StatusCode != 200 {
		t.Errorf("GET other = %s, want 200", resp.Status)
	}
	key := "nar/parts.nar"
	cr, err := e.s3.CreateMultipartUpload(ctx(t), &s3.CreateMultipartUploadInput{Bucket: &b, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i, p := range [][]byte{data(7, 5<<20), data(8, 1000)} {
		out, err := e.s3.UploadPart(ctx(t), &s3.UploadPartInput{Bucket: &b, Key: &key, UploadId: cr.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatalf("UploadPart: %v", err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
	}
	if _, err := e.s3.CompleteMultipartUpload(ctx(t), &s3.CompleteMultipartUploadInput{Bucket: &b, Key: &key,
		UploadId: cr.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatal(err)
	}
	if resp := anonGet(e.url(b, key), ""); resp.StatusCode != 200 || resp.ContentLength != 5<<20+1000 {
		t.Errorf("GET %s = %s, length %d; want 200 with the whole NAR", key, resp.Status, resp.ContentLength)
	}
	// A conditional GET that matches is a 304, not a redirect.
	r, _ := http.NewRequest(http.MethodGet, e.url(b, "nar/one.nar"), nil)
	head, err := e.s3.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: &b, Key: aws.String("nar/one.nar")})
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("If-None-Match", aws.ToString(head.ETag))
	if resp, err := noFollow.Do(r); err != nil || resp.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET = %v, %v; want 304", resp, err)
	} else {
		resp.Body.Close()
	}
}
