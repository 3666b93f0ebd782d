package server_test

import (
	"encoding/xml"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestBucketLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := ctx(t)

	out, err := e.s3.ListBuckets(c, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	if len(out.Buckets) != 0 {
		t.Fatalf("fresh server lists %d buckets", len(out.Buckets))
	}

	names := []string{"gamma.bucket", "alpha", "beta-1", "0digits"}
	before := time.Now().Add(-2 * time.Second)
	for _, n := range names {
		if _, err := e.s3.CreateBucket(c, &s3.CreateBucketInput{Bucket: aws.String(n)}); err != nil {
			t.Fatalf("CreateBucket %q: %v", n, err)
		}
	}
	out, err = e.s3.ListBuckets(c, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	var got []string
	for _, b := range out.Buckets {
		got = append(got, aws.ToString(b.Name))
		if cd := aws.ToTime(b.CreationDate); cd.Before(before) || cd.After(time.Now().Add(2*time.Second)) {
			t.Errorf("bucket %s CreationDate %v is not now", aws.ToString(b.Name), cd)
		}
	}
	want := slices.Clone(names)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("ListBuckets = %q, want %q (sorted)", got, want)
	}
	if out.Owner == nil || aws.ToString(out.Owner.ID) == "" {
		t.Errorf("ListBuckets has no Owner ID")
	}

	// Creating it again succeeds in us-east-1, AWS's legacy behaviour
	// (elsewhere it is BucketAlreadyOwnedByYou: TestCreateBucketAgain).
	if _, err = e.s3.CreateBucket(c, &s3.CreateBucketInput{Bucket: aws.String("alpha")}); err != nil {
		t.Errorf("CreateBucket of an own bucket in us-east-1: %v", err)
	}

	// HeadBucket: 200 for a bucket, 404 without body for a missing one.
	hb, err := e.s3.HeadBucket(c, &s3.HeadBucketInput{Bucket: aws.String("alpha")})
	if err != nil {
		t.Fatalf("HeadBucket alpha: %v", err)
	}
	if r := aws.ToString(hb.BucketRegion); r != region {
		t.Errorf("HeadBucket x-amz-bucket-region %q, want %q", r, region)
	}
	_, err = e.s3.HeadBucket(c, &s3.HeadBucketInput{Bucket: aws.String("missing-bucket")})
	wantCode(t, err, "NotFound", http.StatusNotFound)
	r := e.request(http.MethodHead, e.url("missing-bucket", ""), nil)
	e.signBody(r, nil)
	if st, _, body := e.do(r); st != http.StatusNotFound || len(body) != 0 {
		t.Errorf("HEAD missing bucket: %d with %d body bytes, want 404 and none", st, len(body))
	}

	// DeleteBucket: BucketNotEmpty while it holds an object, then 204.
	e.put("alpha", "k", []byte("v"))
	_, err = e.s3.DeleteBucket(c, &s3.DeleteBucketInput{Bucket: aws.String("alpha")})
	wantCode(t, err, "BucketNotEmpty", http.StatusConflict)
	if _, err := e.s3.DeleteObject(c, &s3.DeleteObjectInput{Bucket: aws.String("alpha"), Key: aws.String("k")}); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	r = e.request(http.MethodDelete, e.url("alpha", ""), nil)
	e.signBody(r, nil)
	if st, _, body := e.do(r); st != http.StatusNoContent {
		t.Errorf("DELETE empty bucket: %d %s, want 204", st, body)
	}
	_, err = e.s3.HeadBucket(c, &s3.HeadBucketInput{Bucket: aws.String("alpha")})
	wantCode(t, err, "NotFound", http.StatusNotFound)
	_, err = e.s3.DeleteBucket(c, &s3.DeleteBucketInput{Bucket: aws.String("alpha")})
	wantCode(t, err, "NoSuchBucket", http.StatusNotFound)

	// A bucket that was deleted can be created again, empty.
	if _, err := e.s3.CreateBucket(c, &s3.CreateBucketInput{Bucket: aws.String("alpha")}); err != nil {
		t.Fatalf("re-creating alpha: %v", err)
	}
	lo, err := e.s3.ListObjectsV2(c, &s3.ListObjectsV2Input{Bucket: aws.String("alpha")})
	if err != nil || len(lo.Contents) != 0 {
		t.Errorf("re-created bucket lists %v, %v", lo, err)
	}

	// Object operations on a missing bucket are NoSuchBucket.
	_, err = e.s3.PutObject(c, &s3.PutObjectInput{Bucket: aws.String("nobucket"), Key: aws.String("k"), Body: strings.NewReader("x")})
	wantCode(t, err, "NoSuchBucket", http.StatusNotFound)
	_, err = e.s3.GetObject(c, &s3.GetObjectInput{Bucket: aws.String("nobucket"), Key: aws.String("k")})
	wantCode(t, err, "NoSuchBucket", http.StatusNotFound)
	_, err = e.s3.ListObjectsV2(c, &s3.ListObjectsV2Input{Bucket: aws.String("nobucket")})
	wantCode(t, err, "NoSuchBucket", http.StatusNotFound)
	_, err = e.s3.ListObjects(c, &s3.ListObjectsInput{Bucket: aws.String("nobucket")})
	wantCode(t, err, "NoSuchBucket", http.StatusNotFound)
	_, err = e.s3.GetBucketLocation(c, &s3.GetBucketLocationInput{Bucket: aws.String("nobucket")})
	wantCode(t, err, "NoSuchBucket", http.StatusNotFound)
}

func TestListBucketsXML(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bucket("xml")
	r := e.request(http.MethodGet, e.ts.URL+"/", nil)
	e.signBody(r, nil)
	st, h, body := e.do(r)
	if st != http.StatusOK {
		t.Fatalf("GET /: %d %s", st, body)
	}
	if ct := h.Get("Content-Type"); !strings.Contains(ct, "xml") {
		t.Errorf("Content-Type %q", ct)
	}
	var doc struct {
		XMLName xml.Name
		Owner   struct{ ID, DisplayName string }
		Buckets []struct {
			Name         string
			CreationDate string
		} `xml:"Buckets>Bucket"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("ListAllMyBucketsResult: %v: %s", err, body)
	}
	if doc.XMLName.Local != "ListAllMyBucketsResult" || doc.XMLName.Space != "http://s3.amazonaws.com/doc/2006-03-01/" {
		t.Errorf("root element %v", doc.XMLName)
	}
	if len(doc.Buckets) != 1 || doc.Owner.ID == "" {
		t.Fatalf("unexpected document %s", body)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", doc.Buckets[0].CreationDate); err != nil {
		t.Errorf("CreationDate %q is not S3's ISO 8601 form: %v", doc.Buckets[0].CreationDate, err)
	}
	if h.Get("x-amz-request-id") == "" {
		t.Errorf("no x-amz-request-id header")
	}
}

func TestCreateBucketInvalidName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, name := range []string{
		"ab",                    // too short
		strings.Repeat("a", 64), // too long
		"UPPER",
		"under_score",
		"-start",
		"end-",
		".dot",
		"a..b",
		"192.168.1.1",
		"xn--punycode",
		"sthree-name",
		"name-s3alias",
		"name--ol-s3",
	} {
		// Raw requests: SDKs may refuse some names before sending them.
		r := e.request(http.MethodPut, e.ts.URL+"/"+name, nil)
		e.signBody(r, nil)
		st, _, body := e.do(r)
		t.Run(name, func(t *testing.T) { wantError(t, st, body, http.StatusBadRequest, "InvalidBucketName") })
	}
	// The SDK reaches the same answer for a name it sends as is.
	_, err := e.s3.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: aws.String("Bad_Name")})
	wantCode(t, err, "InvalidBucketName", http.StatusBadRequest)
	// Valid edge cases.
	for _, name := range []string{"abc", strings.Repeat("a", 63), "a.b-c.d", "1-2"} {
		if _, err := e.s3.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
			t.Errorf("CreateBucket %q: %v", name, err)
		}
	}
}

func TestGetBucketLocation(t *testing.T) {
	t.Parallel()
	t.Run("us-east-1", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		b := e.bucket("loc")
		out, err := e.s3.GetBucketLocation(ctx(t), &s3.GetBucketLocationInput{Bucket: &b})
		if err != nil {
			t.Fatalf("GetBucketLocation: %v", err)
		}
		if out.LocationConstraint != "" {
			t.Errorf("LocationConstraint %q, want empty for us-east-1", out.LocationConstraint)
		}
		r := e.request(http.MethodGet, e.url(b, "")+"?location", nil)
		e.signBody(r, nil)
		st, _, body := e.do(r)
		var doc struct {
			XMLName xml.Name
			Value   string `xml:",chardata"`
		}
		if err := xml.Unmarshal(body, &doc); st != http.StatusOK || err != nil {
			t.Fatalf("GET ?location: %d %v %s", st, err, body)
		}
		if doc.XMLName.Local != "LocationConstraint" || doc.XMLName.Space != "http://s3.amazonaws.com/doc/2006-03-01/" || strings.TrimSpace(doc.Value) != "" {
			t.Errorf("GET ?location = %s", body)
		}
		// minio-go maps the empty constraint to us-east-1.
		loc, err := e.mc.GetBucketLocation(ctx(t), b)
		if err != nil || loc != "us-east-1" {
			t.Errorf("minio GetBucketLocation = %q, %v", loc, err)
		}
	})
	t.Run("eu-west-2", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, withRegion("eu-west-2"))
		b := e.bucket("loc")
		out, err := e.s3.GetBucketLocation(ctx(t), &s3.GetBucketLocationInput{Bucket: &b})
		if err != nil {
			t.Fatalf("GetBucketLocation: %v", err)
		}
		if out.LocationConstraint != "eu-west-2" {
			t.Errorf("LocationConstraint %q, want eu-west-2", out.LocationConstraint)
		}
	})
}
