package server_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// TestBucketNamesAWSRefuses: CreateBucket refuses the names AWS refuses
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html,
// and a hyphen next to a dot, which AWS answers InvalidBucketName too),
// while a bucket that already has such a name, made under older rules,
// keeps working. (A name ending in --x-s3 is refused too, but the SDK
// takes it for a directory bucket and never sends the request.)
func TestBucketNamesAWSRefuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := ctx(t)
	for _, name := range []string{
		"foo-.bar", "foo.-bar", "-foo", "foo-", ".foo", "foo.", "foo..bar", "xn--foo", "foo-s3alias", "foo--ol-s3",
		"sthree-foo", "sthree-configurator-x", "amzn-s3-demo-foo", "foo.mrap", "foo--table-s3",
		"192.168.5.4", "192.168.05.4", "999.999.999.999", "Foo", "fo", "foo_bar",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.s3.CreateBucket(c, &s3.CreateBucketInput{Bucket: aws.String(name)})
			wantCode(t, err, "InvalidBucketName", http.StatusBadRequest)
		})
	}
	for _, name := range []string{"foo-bar.baz", "1.2.3", "a.b.c.d.e", "xn-foo", "foo-s3"} {
		if _, err := e.s3.CreateBucket(c, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
			t.Errorf("CreateBucket %q: %v", name, err)
		}
	}

	// A bucket under a name now refused, as an older server made it.
	old := "foo-.bar"
	if err := e.srv.Objects().Meta.CreateBucket(c, meta.Bucket{Name: old, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s3.HeadBucket(c, &s3.HeadBucketInput{Bucket: &old}); err != nil {
		t.Fatalf("HeadBucket %q: %v", old, err)
	}
	body := []byte("still here")
	if _, err := e.s3.PutObject(c, &s3.PutObjectInput{Bucket: &old, Key: aws.String("k"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatalf("PutObject into %q: %v", old, err)
	}
	g, err := e.s3.GetObject(c, &s3.GetObjectInput{Bucket: &old, Key: aws.String("k")})
	if err != nil {
		t.Fatalf("GetObject from %q: %v", old, err)
	}
	got, _ := io.ReadAll(g.Body)
	g.Body.Close()
	if !bytes.Equal(got, body) {
		t.Errorf("GetObject from %q: %q", old, got)
	}
	l, err := e.s3.ListObjectsV2(c, &s3.ListObjectsV2Input{Bucket: &old})
	if err != nil || len(l.Contents) != 1 {
		t.Errorf("ListObjectsV2 of %q: %+v, %v", old, l, err)
	}
	if _, err := e.s3.DeleteObject(c, &s3.DeleteObjectInput{Bucket: &old, Key: aws.String("k")}); err != nil {
		t.Errorf("DeleteObject in %q: %v", old, err)
	}
	if _, err := e.s3.DeleteBucket(c, &s3.DeleteBucketInput{Bucket: &old}); err != nil {
		t.Errorf("DeleteBucket %q: %v", old, err)
	}
}
