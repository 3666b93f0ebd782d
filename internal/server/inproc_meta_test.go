package server_test

import (
	"bytes"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// withMeta runs the server on the metadata store at url.
func withMeta(url string) envOption { return func(c *envConfig) { c.meta = url } }

// listKeys lists bucket through e.
func (e *env) listKeys(bucket string) []string {
	e.t.Helper()
	out, err := e.s3.ListObjectsV2(ctx(e.t), &s3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		e.t.Fatalf("ListObjectsV2 %s: %v", bucket, err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

// missing asserts that bucket/key is a 404 through e.
func (e *env) missing(bucket, key string) {
	e.t.Helper()
	_, err := e.s3.HeadObject(ctx(e.t), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if code(err) != "NotFound" {
		e.t.Fatalf("HeadObject %s/%q: got %v, want NotFound", bucket, key, err)
	}
}

// anonGet returns the status of an unsigned GET of bucket/key through e.
func (e *env) anonGet(bucket, key string) int {
	e.t.Helper()
	resp, err := e.ts.Client().Get(e.url(bucket, key))
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPostgresMeta: a server on --meta postgres://… with the blobs in its
// data directory stores, reads, lists and deletes objects, small (inline
// in the metadata) and large (a blob), and keeps them across a restart;
// the data directory holds no SQLite database.
func TestPostgresMeta(t *testing.T) {
	e := newEnv(t, withMeta(testenv.Postgres(t)))
	b := e.bucket("pg")
	small, large := []byte("hello, postgres"), bytes.Repeat([]byte("0123456789abcdef"), 64<<10)
	e.put(b, "small", small)
	e.put(b, "dir/large", large)
	if got := e.get(b, "small"); !bytes.Equal(got, small) {
		t.Errorf("small: got %q", got)
	}
	if got := e.get(b, "dir/large"); !bytes.Equal(got, large) {
		t.Errorf("large: got %d bytes, want %d", len(got), len(large))
	}
	if keys := e.listKeys(b); !slices.Equal(keys, []string{"dir/large", "small"}) {
		t.Errorf("listing: %q", keys)
	}
	if _, err := e.s3.DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: &b, Key: aws.String("small")}); err != nil {
		t.Fatal(err)
	}
	e.missing(b, "small")
	if _, err := os.Stat(filepath.Join(e.data, "meta.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("meta.db in the data directory: %v", err)
	}
	e.restart()
	if got := e.get(b, "dir/large"); !bytes.Equal(got, large) {
		t.Errorf("large after a restart: got %d bytes, want %d", len(got), len(large))
	}
	e.missing(b, "small")
}

// TestTwoServersOnePostgres: two servers on one PostgreSQL store see each
// other's writes at once: a put through A is read and listed through B,
// an overwrite and a delete through A show through B, and a bucket policy
// set or removed through A is enforced by B at its next request. (Each
// server keeps blobs in its own data directory here, so the objects are
// small enough to live in the metadata.)
func TestTwoServersOnePostgres(t *testing.T) {
	url := testenv.Postgres(t)
	a := newEnv(t, withMeta(url))
	b := newEnv(t, withMeta(url))
	if a.id != b.id {
		t.Errorf("the servers have different admin keys: %s and %s", a.id, b.id)
	}
	bk := a.bucket("shared")
	b.missing(bk, "k") // B has now looked for it, and found nothing
	a.put(bk, "k", []byte("v1"))
	if got := b.get(bk, "k"); string(got) != "v1" {
		t.Errorf("through B after a put through A: %q, want v1", got)
	}
	if keys := b.listKeys(bk); !slices.Equal(keys, []string{"k"}) {
		t.Errorf("listing through B: %q", keys)
	}
	a.put(bk, "k", []byte("v2"))
	if got := b.get(bk, "k"); string(got) != "v2" {
		t.Errorf("through B after an overwrite through A: %q, want v2", got)
	}
	if _, err := a.s3.DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: &bk, Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	b.missing(bk, "k")

	b.put(bk, "public", []byte("p"))
	denied := b.anonGet(bk, "public")
	if denied != http.StatusUnauthorized && denied != http.StatusForbidden {
		t.Fatalf("anonymous GET through B before any policy: %d, want 401 or 403", denied)
	}
	a.publicRead(bk)
	if got := b.anonGet(bk, "public"); got != http.StatusOK {
		t.Errorf("anonymous GET through B after a public-read policy set through A: %d, want 200", got)
	}
	if _, err := a.s3.DeleteBucketPolicy(ctx(t), &s3.DeleteBucketPolicyInput{Bucket: &bk}); err != nil {
		t.Fatal(err)
	}
	if got := b.anonGet(bk, "public"); got != denied {
		t.Errorf("anonymous GET through B after the policy was deleted through A: %d, want %d", got, denied)
	}
}
