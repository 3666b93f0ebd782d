package server_test

// AWS's answers where outside S3 conformance suites found nixbucket's to
// differ (issue #13): each test drives the server with aws-sdk-go-v2 or
// minio-go where they meet the behaviour, and with hand-built requests
// where a client would hide it.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// wantErrorAt asserts an S3 XML error as wantError does, and that it names
// the resource and carries the request id of the answer's header.
func wantErrorAt(t testing.TB, st int, h http.Header, body []byte, wantStatus int, wantCode, resource string) s3Error {
	t.Helper()
	wantError(t, st, body, wantStatus, wantCode)
	var e s3Error
	xml.Unmarshal(body, &e)
	if e.Resource != resource {
		t.Errorf("Resource %q, want %q", e.Resource, resource)
	}
	if e.RequestID == "" || e.RequestID != h.Get("X-Amz-Request-Id") {
		t.Errorf("RequestId %q, header %q", e.RequestID, h.Get("X-Amz-Request-Id"))
	}
	return e
}

// signed sends a request signed with the SHA-256 of body.
func (e *env) signed(method, rawURL string, body []byte, hdr map[string]string) (int, http.Header, []byte) {
	e.t.Helper()
	r := e.request(method, rawURL, body)
	for k, v := range hdr {
		r.Header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	e.signBody(r, body)
	return e.do(r)
}

// TestContentLengthWithEncoding: a GET of an object stored with a
// Content-Encoding carries its Content-Length (http.ServeContent drops it
// when Content-Encoding is set), whole or ranged, inline or in a blob.
func TestContentLengthWithEncoding(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("clen")
	for _, size := range []int{5000, 100_000, 3 * mib} {
		key := "enc/" + strconv.Itoa(size)
		body := data(uint64(size), size)
		e.put(b, key, body, func(in *s3.PutObjectInput) { in.ContentEncoding = aws.String("gzip") })
		for _, rng := range []string{"", "bytes=10-4009"} {
			r := e.request(http.MethodGet, e.url(b, key), nil)
			// Set by hand, so net/http does not gunzip the answer.
			r.Header.Set("Accept-Encoding", "gzip")
			want := body
			if rng != "" {
				r.Header.Set("Range", rng)
				want = body[10:4010]
			}
			e.signBody(r, nil)
			resp, err := e.ts.Client().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			got.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.ContentLength != int64(len(want)) || len(resp.TransferEncoding) > 0 || resp.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(got.Bytes(), want) {
				t.Errorf("GET %d bytes, Range %q: status %d, Content-Length %d, Transfer-Encoding %v, Content-Encoding %q, %d bytes; want length %d",
					size, rng, resp.StatusCode, resp.ContentLength, resp.TransferEncoding, resp.Header.Get("Content-Encoding"), got.Len(), len(want))
			}
		}
		out, err := e.s3.GetObject(ctx(t), &s3.GetObjectInput{Bucket: &b, Key: &key})
		if err != nil {
			t.Fatal(err)
		}
		out.Body.Close()
		if aws.ToInt64(out.ContentLength) != int64(size) {
			t.Errorf("SDK GetObject of %d bytes: ContentLength %d", size, aws.ToInt64(out.ContentLength))
		}
	}
}

// TestUnimplementedSubresources: a subresource nixbucket does not carry
// out answers 501 NotImplemented, and never another operation: PUT
// ?versioning does not create a bucket, GET ?policyStatus does not list one.
func TestUnimplementedSubresources(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("unimpl")
	e.put(b, "k", []byte("v"))
	c := ctx(t)

	missing := "never-created-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	_, err := e.s3.PutBucketVersioning(c, &s3.PutBucketVersioningInput{Bucket: &missing,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	// PutBucketVersioning is routed (501 for Enabled on a bucket, below):
	// on a missing bucket it says so, and creates none.
	wantCode(t, err, "NoSuchBucket", http.StatusNotFound)
	st, h, body := e.signed(http.MethodPut, e.url(missing, "")+"?versioning", []byte{}, nil)
	wantErrorAt(t, st, h, body, http.StatusNotFound, "NoSuchBucket", "/"+missing)
	if _, err := e.s3.HeadBucket(c, &s3.HeadBucketInput{Bucket: &missing}); status(err) != http.StatusNotFound {
		t.Errorf("PUT ?versioning created the bucket: HeadBucket %v", err)
	}
	_, err = e.s3.GetBucketPolicyStatus(c, &s3.GetBucketPolicyStatusInput{Bucket: &b})
	wantCode(t, err, "NotImplemented", http.StatusNotImplemented)
	_, err = e.s3.PutBucketWebsite(c, &s3.PutBucketWebsiteInput{Bucket: &b, WebsiteConfiguration: &types.WebsiteConfiguration{
		IndexDocument: &types.IndexDocument{Suffix: aws.String("index.html")}}})
	wantCode(t, err, "NotImplemented", http.StatusNotImplemented)
	// A bucket without object lock, as AWS answers for one.
	_, err = e.s3.GetObjectLockConfiguration(c, &s3.GetObjectLockConfigurationInput{Bucket: &b})
	wantCode(t, err, "ObjectLockConfigurationNotFoundError", http.StatusNotFound)
	err = e.mc.SetBucketVersioning(c, b, minio.BucketVersioningConfiguration{Status: "Enabled"})
	if minioCode(err) != "NotImplemented" {
		t.Errorf("minio-go SetBucketVersioning: %v", err)
	}

	for _, q := range []struct{ method, key, query string }{
		{"GET", "", "policyStatus"}, {"GET", "", "publicAccessBlock"}, {"PUT", "", "encryption"},
		{"DELETE", "", "website"}, {"GET", "", "session"}, {"PUT", "", "metadataJournalTable"},
		{"GET", "k", "torrent"}, {"POST", "k", "restore"}, {"PUT", "k", "renameObject"},
	} {
		var body []byte
		if q.method != "GET" && q.method != "DELETE" {
			body = []byte{}
		}
		st, h, out := e.signed(q.method, e.url(b, q.key)+"?"+q.query, body, nil)
		res := "/" + b
		if q.key != "" {
			res += "/" + q.key
		}
		t.Run(q.method+" ?"+q.query, func(t *testing.T) {
			wantErrorAt(t, st, h, out, http.StatusNotImplemented, "NotImplemented", res)
		})
	}
	// Nothing was listed, deleted or written on the way.
	if got := e.get(b, "k"); string(got) != "v" {
		t.Errorf("object after the refusals: %q", got)
	}
	if keys := e.listKeys(b); len(keys) != 1 {
		t.Errorf("keys after the refusals: %q", keys)
	}
}

// TestListBucketsPaging: ListBuckets honours max-buckets,
// continuation-token and prefix, through the SDK's paginator, and refuses
// what AWS refuses.
func TestListBucketsPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var want []string
	for range 5 {
		want = append(want, e.bucket("pagea"))
	}
	e.bucket("pageb")
	var got []string
	pages := 0
	p := s3.NewListBucketsPaginator(e.s3, &s3.ListBucketsInput{Prefix: aws.String("pagea-"), MaxBuckets: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatalf("ListBuckets page %d: %v", pages+1, err)
		}
		pages++
		if aws.ToString(out.Prefix) != "pagea-" || len(out.Buckets) > 2 {
			t.Errorf("page %d: prefix %q, %d buckets", pages, aws.ToString(out.Prefix), len(out.Buckets))
		}
		for _, b := range out.Buckets {
			got = append(got, aws.ToString(b.Name))
			if aws.ToString(b.BucketRegion) != region {
				t.Errorf("bucket %s: BucketRegion %q", aws.ToString(b.Name), aws.ToString(b.BucketRegion))
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(sorted(want)) || pages != 3 {
		t.Errorf("paged listing %q in %d pages, want %q in 3", got, pages, sorted(want))
	}
	all, err := e.s3.ListBuckets(ctx(t), &s3.ListBucketsInput{})
	if err != nil || len(all.Buckets) != 6 || all.ContinuationToken != nil {
		t.Errorf("unpaged listing: %d buckets, token %v, %v", len(all.Buckets), all.ContinuationToken, err)
	}
	// AWS names the region of each bucket when the request has any of
	// ListBuckets' parameters (S3 API reference, Bucket: BucketRegion),
	// and only then.
	for _, in := range []s3.ListBucketsInput{{}, {Prefix: aws.String("pageb-")}, {BucketRegion: aws.String(region)}} {
		out, err := e.s3.ListBuckets(ctx(t), &in)
		if err != nil || len(out.Buckets) == 0 {
			t.Fatalf("ListBuckets %+v: %v, %v", in, out, err)
		}
		want := region
		if in.Prefix == nil && in.BucketRegion == nil {
			want = ""
		}
		if r := aws.ToString(out.Buckets[0].BucketRegion); r != want {
			t.Errorf("ListBuckets prefix %q region %q: BucketRegion %q, want %q", aws.ToString(in.Prefix), aws.ToString(in.BucketRegion), r, want)
		}
	}
	for _, q := range []string{"max-buckets=0", "max-buckets=10001", "max-buckets=x", "continuation-token=%21%21", "continuation-token="} {
		st, h, body := e.signed(http.MethodGet, e.ts.URL+"/?"+q, nil, nil)
		t.Run(q, func(t *testing.T) { wantErrorAt(t, st, h, body, http.StatusBadRequest, "InvalidArgument", "/") })
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// TestDeleteBucketWithUploads: uploads in progress do not keep a bucket
// without objects (they are aborted with it), as on AWS; objects do.
func TestDeleteBucketWithUploads(t *testing.T) {
	t.Parallel()
	testDeleteBucketWithUploads(t, newEnv(t))
}

// TestConformancePostgres runs the checks that lean on the metadata store
// (DeleteBucket aborting uploads, a repeated complete finding its object)
// on PostgreSQL.
func TestConformancePostgres(t *testing.T) {
	e := newEnv(t, withMeta(testenv.Postgres(t)))
	t.Run("DeleteBucketWithUploads", func(t *testing.T) { testDeleteBucketWithUploads(t, e) })
	t.Run("CompleteTwice", func(t *testing.T) { testCompleteTwice(t, e) })
}

func testDeleteBucketWithUploads(t *testing.T, e *env) {
	c := ctx(t)
	b := e.bucket("delup")
	u := e.createUpload(t, b, "big")
	u.part(1, data(1, 1000))
	e.createUpload(t, b, "other")
	if _, err := e.s3.DeleteBucket(c, &s3.DeleteBucketInput{Bucket: &b}); err != nil {
		t.Fatalf("DeleteBucket with uploads only: %v", err)
	}
	if _, err := e.s3.HeadBucket(c, &s3.HeadBucketInput{Bucket: &b}); status(err) != http.StatusNotFound {
		t.Errorf("HeadBucket after delete: %v", err)
	}
	// The name can be used again, with no upload left from before.
	if _, err := e.s3.CreateBucket(c, &s3.CreateBucketInput{Bucket: &b}); err != nil {
		t.Fatal(err)
	}
	if ids := e.uploadIDs(t, b); len(ids) != 0 {
		t.Errorf("uploads survived their bucket: %q", ids)
	}

	full := e.bucket("delfull")
	e.put(full, "k", []byte("v"))
	e.createUpload(t, full, "up")
	_, err := e.s3.DeleteBucket(c, &s3.DeleteBucketInput{Bucket: &full})
	wantCode(t, err, "BucketNotEmpty", http.StatusConflict)
	if ids := e.uploadIDs(t, full); len(ids) != 1 {
		t.Errorf("a refused DeleteBucket aborted uploads: %q left", ids)
	}
}

// TestCompleteTwice: CompleteMultipartUpload repeated with the same parts
// after it succeeded answers 200 with the same ETag (Nix and the SDKs
// retry completes after timeouts); other parts get NoSuchUpload. The
// Location is an absolute URL.
func TestCompleteTwice(t *testing.T) {
	t.Parallel()
	testCompleteTwice(t, newEnv(t))
}

func testCompleteTwice(t *testing.T, e *env) {
	b := e.bucket("twice")
	key := "dir/obj ü.bin"
	u := e.createUpload(t, b, key)
	p1, p2 := data(1, 5*mib), data(2, 1000)
	e1, e2 := u.part(1, p1), u.part(2, p2)
	first, err := u.complete(cp(1, e1), cp(2, e2))
	if err != nil {
		t.Fatalf("first complete: %v", err)
	}
	wantLoc := e.ts.URL + "/" + b + "/dir/obj%20%C3%BC.bin"
	if aws.ToString(first.Location) != wantLoc {
		t.Errorf("Location %q, want %q", aws.ToString(first.Location), wantLoc)
	}
	again, err := u.complete(cp(1, e1), cp(2, e2))
	if err != nil {
		t.Fatalf("repeated complete: %v", err)
	}
	if aws.ToString(again.ETag) != aws.ToString(first.ETag) || aws.ToString(again.ETag) != multipartETag(p1, p2) {
		t.Errorf("repeated complete ETag %s, first %s", aws.ToString(again.ETag), aws.ToString(first.ETag))
	}
	_, err = u.complete(cp(1, e1))
	wantCode(t, err, "NoSuchUpload", http.StatusNotFound)
	if got := e.get(b, key); !bytes.Equal(got, append(append([]byte(nil), p1...), p2...)) {
		t.Errorf("object after the repeats: %d bytes", len(got))
	}
}

// TestListDetails: ListObjects v1 always sends <Marker> and encodes
// <Prefix> only with encoding-type=url (slashes left alone); v2 echoes a
// ContinuationToken sent empty; ListMultipartUploads caps max-uploads at
// 1,000 and pages with NextKeyMarker and NextUploadIdMarker.
func TestListDetails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("details")
	e.put(b, "a b/c+d", []byte("x"))
	type v1 struct {
		Prefix    string
		Marker    *string
		Contents  []struct{ Key string }
		Encoding  string `xml:"EncodingType"`
		Delimiter string
	}
	get := func(query string, v any) {
		t.Helper()
		st, _, body := e.signed(http.MethodGet, e.url(b, "")+"?"+query, nil, nil)
		if st != http.StatusOK {
			t.Fatalf("GET ?%s: %d %s", query, st, body)
		}
		if err := xml.Unmarshal(body, v); err != nil {
			t.Fatal(err)
		}
	}
	var l v1
	get("prefix=a%20b%2F", &l)
	if l.Prefix != "a b/" || l.Marker == nil || *l.Marker != "" || len(l.Contents) != 1 || l.Contents[0].Key != "a b/c+d" {
		t.Errorf("v1 without encoding: %+v", l)
	}
	l = v1{}
	get("prefix=a%20b%2F&encoding-type=url&marker=a", &l)
	if l.Prefix != "a%20b/" || l.Marker == nil || *l.Marker != "a" || len(l.Contents) != 1 || l.Contents[0].Key != "a%20b/c%2Bd" {
		t.Errorf("v1 with encoding-type=url: %+v", l)
	}
	var l2 struct{ ContinuationToken *string }
	get("list-type=2&continuation-token=", &l2)
	if l2.ContinuationToken == nil || *l2.ContinuationToken != "" {
		t.Errorf("v2 did not echo an empty ContinuationToken: %v", l2.ContinuationToken)
	}
	l2.ContinuationToken = nil
	get("list-type=2", &l2)
	if l2.ContinuationToken != nil {
		t.Errorf("v2 sent a ContinuationToken it was not given")
	}

	for _, k := range []string{"u1", "u2", "u3"} {
		e.createUpload(t, b, k)
	}
	out, err := e.s3.ListMultipartUploads(ctx(t), &s3.ListMultipartUploadsInput{Bucket: &b, MaxUploads: aws.Int32(2000)})
	if err != nil || aws.ToInt32(out.MaxUploads) != 1000 || len(out.Uploads) != 3 {
		t.Fatalf("max-uploads=2000: MaxUploads %d, %d uploads, %v", aws.ToInt32(out.MaxUploads), len(out.Uploads), err)
	}
	var keys []string
	in := &s3.ListMultipartUploadsInput{Bucket: &b, MaxUploads: aws.Int32(2)}
	for pages := 0; ; pages++ {
		out, err := e.s3.ListMultipartUploads(ctx(t), in)
		if err != nil || pages > 3 {
			t.Fatalf("ListMultipartUploads page %d: %v", pages, err)
		}
		for _, u := range out.Uploads {
			keys = append(keys, aws.ToString(u.Key))
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		if aws.ToString(out.NextKeyMarker) == "" || aws.ToString(out.NextUploadIdMarker) == "" {
			t.Fatalf("truncated page without markers: %q %q", aws.ToString(out.NextKeyMarker), aws.ToString(out.NextUploadIdMarker))
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
	if fmt.Sprint(keys) != "[u1 u2 u3]" {
		t.Errorf("paged uploads %q", keys)
	}
}

// TestRangeEdgeCases: S3's answers to ranges it ignores, to a Range on an
// empty object (416 but for a suffix, as ceph's s3-tests and versitygw's
// suite, both checked against AWS, expect), to HEAD with a Range, and to
// partNumber.
func TestRangeEdgeCases(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("ranges")
	body := data(7, 100)
	e.put(b, "k", body)
	e.put(b, "empty", nil)
	for _, c := range []struct {
		method, key, query, rng string
		status                  int
		length                  int
		contentRange, code      string
	}{
		{"GET", "k", "", "bytes= -1", 200, 100, "", ""},
		{"GET", "k", "", "bytes=--1", 200, 100, "", ""},
		{"GET", "k", "", "bytes=5-3", 200, 100, "", ""},
		{"GET", "k", "", "bytes=0-1,5-6", 200, 100, "", ""},
		{"GET", "k", "", "bytes=-10", 206, 10, "bytes 90-99/100", ""},
		{"GET", "k", "", "bytes=100-", 416, -1, "bytes */100", "InvalidRange"},
		// An empty object has no byte a range can start at; its suffix
		// is its (empty) whole.
		{"GET", "empty", "", "bytes=0-", 416, -1, "bytes */0", "InvalidRange"},
		{"GET", "empty", "", "bytes=40-50", 416, -1, "bytes */0", "InvalidRange"},
		{"GET", "empty", "", "bytes=-1", 200, 0, "", ""},
		{"GET", "empty", "", "bytes=a-z", 200, 0, "", ""},
		{"HEAD", "empty", "", "bytes=0-10", 416, -1, "bytes */0", ""},
		{"HEAD", "k", "", "bytes=10-19", 206, 10, "bytes 10-19/100", ""},
		{"HEAD", "k", "", "bytes=-1", 206, 1, "bytes 99-99/100", ""},
		{"HEAD", "k", "", "bytes= -1", 200, 100, "", ""},
		{"HEAD", "k", "", "bytes=200-", 416, -1, "bytes */100", ""},
		{"GET", "k", "partNumber=1", "bytes=0-1", 400, -1, "", "InvalidRequest"},
		{"GET", "k", "partNumber=1", "", 206, 100, "bytes 0-99/100", ""},
		{"GET", "k", "partNumber=2", "", 416, -1, "", "InvalidPartNumber"},
		{"HEAD", "k", "partNumber=1", "", 206, 100, "bytes 0-99/100", ""},
	} {
		name := c.method + " " + c.key + " " + c.query + " " + c.rng
		t.Run(name, func(t *testing.T) {
			u := e.url(b, c.key)
			if c.query != "" {
				u += "?" + c.query
			}
			hdr := map[string]string{}
			if c.rng != "" {
				hdr["Range"] = c.rng
			}
			st, h, out := e.signed(c.method, u, nil, hdr)
			if c.code != "" {
				wantErrorAt(t, st, h, out, c.status, c.code, "/"+b+"/"+c.key)
				return
			}
			if st != c.status {
				t.Fatalf("status %d, want %d: %.200s", st, c.status, out)
			}
			if cl, _ := strconv.Atoi(h.Get("Content-Length")); c.length >= 0 && cl != c.length {
				t.Errorf("Content-Length %q, want %d", h.Get("Content-Length"), c.length)
			}
			if h.Get("Content-Range") != c.contentRange {
				t.Errorf("Content-Range %q, want %q", h.Get("Content-Range"), c.contentRange)
			}
			if h.Get("X-Amz-Mp-Parts-Count") != "" {
				t.Errorf("x-amz-mp-parts-count %q on an object not uploaded in parts", h.Get("X-Amz-Mp-Parts-Count"))
			}
			if c.method == "GET" && c.status == 200 && !bytes.Equal(out, body[:c.length]) {
				t.Errorf("body %d bytes, want the whole object", len(out))
			}
		})
	}
	// The SDK: part 1 of an object not uploaded in parts has no PartsCount.
	out, err := e.s3.GetObject(ctx(t), &s3.GetObjectInput{Bucket: &b, Key: aws.String("k"), PartNumber: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	out.Body.Close()
	if out.PartsCount != nil || aws.ToInt64(out.ContentLength) != 100 {
		t.Errorf("GetObject partNumber=1: PartsCount %v, length %d", out.PartsCount, aws.ToInt64(out.ContentLength))
	}
	_, err = e.s3.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: &b, Key: aws.String("k"), PartNumber: aws.Int32(3)})
	if status(err) != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("HeadObject partNumber=3: %v, want 416", err)
	}
}

// TestConditionalWriteOnETag: AWS supports only If-None-Match: * on
// writes and answers an entity tag there with 501.
func TestConditionalWriteOnETag(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("cond")
	etag := e.put(b, "k", []byte("v"))
	_, err := e.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &b, Key: aws.String("k"), Body: strings.NewReader("w"), IfNoneMatch: aws.String(etag)})
	wantCode(t, err, "NotImplemented", http.StatusNotImplemented)
	_, err = e.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &b, Key: aws.String("k"), Body: strings.NewReader("w"), IfNoneMatch: aws.String("*")})
	wantCode(t, err, "PreconditionFailed", http.StatusPreconditionFailed)
	u := e.createUpload(t, b, "mp")
	p := u.part(1, []byte("part"))
	_, err = e.s3.CompleteMultipartUpload(ctx(t), &s3.CompleteMultipartUploadInput{Bucket: &b, Key: aws.String("mp"), UploadId: &u.id,
		IfNoneMatch: aws.String(`"0123"`), MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{cp(1, p)}}})
	wantCode(t, err, "NotImplemented", http.StatusNotImplemented)
	if got := e.get(b, "k"); string(got) != "v" {
		t.Errorf("object after refused writes: %q", got)
	}
}

// TestCreateBucketAgain: re-creating your own bucket answers 200 in
// us-east-1 and BucketAlreadyOwnedByYou elsewhere; LocationConstraint
// must name the server's region (and never us-east-1).
func TestCreateBucketAgain(t *testing.T) {
	t.Parallel()
	t.Run("us-east-1", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		b := e.bucket("again")
		if _, err := e.s3.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: &b}); err != nil {
			t.Errorf("CreateBucket of an own bucket in us-east-1: %v", err)
		}
		if err := e.mc.MakeBucket(ctx(t), b, minio.MakeBucketOptions{}); err != nil {
			t.Errorf("minio-go MakeBucket of an own bucket in us-east-1: %v", err)
		}
		for lc, want := range map[types.BucketLocationConstraint]string{
			"eu-west-1": "IllegalLocationConstraintException",
			"us-east-1": "InvalidLocationConstraint",
		} {
			name := "lc-" + string(lc)
			_, err := e.s3.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: &name,
				CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: lc}})
			wantCode(t, err, want, http.StatusBadRequest)
			if _, err := e.s3.HeadBucket(ctx(t), &s3.HeadBucketInput{Bucket: &name}); status(err) != http.StatusNotFound {
				t.Errorf("refused CreateBucket made %s: %v", name, err)
			}
		}
	})
	t.Run("eu-west-2", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, withRegion("eu-west-2"))
		b := "again-eu"
		_, err := e.s3.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: &b,
			CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: "eu-west-2"}})
		if err != nil {
			t.Fatalf("CreateBucket in the server's region: %v", err)
		}
		_, err = e.s3.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: &b})
		wantCode(t, err, "BucketAlreadyOwnedByYou", http.StatusConflict)
		other := "again-other"
		_, err = e.s3.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: &other,
			CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: "eu-central-1"}})
		wantCode(t, err, "IllegalLocationConstraintException", http.StatusBadRequest)
	})
}

// TestPresignedExpiryMessages: an expired presigned URL and one valid for
// more than 7 days are refused in AWS's words.
func TestPresignedExpiryMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("expiry")
	e.put(b, "k", []byte("v"))
	presign := func(at time.Time, expires string) string {
		r := e.request(http.MethodGet, e.url(b, "k")+"?X-Amz-Expires="+expires, nil)
		u, _, err := newSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: e.id, SecretAccessKey: e.secret}, r, "UNSIGNED-PAYLOAD", "s3", region, at)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	st, h, out := e.do(e.request(http.MethodGet, presign(time.Now().Add(-time.Hour), "60"), nil))
	if x := wantErrorAt(t, st, h, out, http.StatusForbidden, "AccessDenied", "/"+b+"/k"); x.Message != "Request has expired" {
		t.Errorf("expired: message %q", x.Message)
	}
	st, h, out = e.do(e.request(http.MethodGet, presign(time.Now(), "604801"), nil))
	want := "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds"
	if x := wantErrorAt(t, st, h, out, http.StatusBadRequest, "AuthorizationQueryParametersError", "/"+b+"/k"); x.Message != want {
		t.Errorf("over a week: message %q", x.Message)
	}
	st, h, out = e.do(e.request(http.MethodGet, e.presignV2("GET", "", b, "k", time.Now().Add(-time.Minute), ""), nil))
	if x := wantErrorAt(t, st, h, out, http.StatusForbidden, "AccessDenied", "/"+b+"/k"); x.Message != "Request has expired" {
		t.Errorf("expired SigV2: message %q", x.Message)
	}
}

// TestWriteValidation: an empty Content-MD5, keys over 1,024 bytes and
// user metadata over 2 KB are refused on every write path.
func TestWriteValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := ctx(t)
	b := e.bucket("valid")
	e.put(b, "src", []byte("source"))

	st, h, out := e.signed(http.MethodPut, e.url(b, "md5"), []byte("x"), map[string]string{"Content-MD5": ""})
	wantErrorAt(t, st, h, out, http.StatusBadRequest, "InvalidDigest", "/"+b+"/md5")
	e.absent(b, "md5")

	long := strings.Repeat("k", 1025)
	_, err := e.s3.PutObject(c, &s3.PutObjectInput{Bucket: &b, Key: &long, Body: strings.NewReader("x")})
	wantCode(t, err, "KeyTooLongError", http.StatusBadRequest)
	_, err = e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: &b, Key: &long, CopySource: aws.String(b + "/src")})
	wantCode(t, err, "KeyTooLongError", http.StatusBadRequest)
	_, err = e.s3.CreateMultipartUpload(c, &s3.CreateMultipartUploadInput{Bucket: &b, Key: &long})
	wantCode(t, err, "KeyTooLongError", http.StatusBadRequest)
	del, err := e.s3.DeleteObjects(c, &s3.DeleteObjectsInput{Bucket: &b, Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: &long}, {Key: aws.String("nothing")}}}})
	if err != nil || len(del.Errors) != 1 || aws.ToString(del.Errors[0].Code) != "KeyTooLongError" || len(del.Deleted) != 1 {
		t.Errorf("DeleteObjects with a long key: %+v, %v", del, err)
	}
	ok := strings.Repeat("k", 1024)
	e.put(b, ok, []byte("x"))

	big := map[string]string{"big": strings.Repeat("m", 2100)}
	_, err = e.s3.PutObject(c, &s3.PutObjectInput{Bucket: &b, Key: aws.String("meta"), Body: strings.NewReader("x"), Metadata: big})
	wantCode(t, err, "MetadataTooLarge", http.StatusBadRequest)
	_, err = e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: &b, Key: aws.String("meta"), CopySource: aws.String(b + "/src"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: big})
	wantCode(t, err, "MetadataTooLarge", http.StatusBadRequest)
	_, err = e.s3.CreateMultipartUpload(c, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("meta"), Metadata: big})
	wantCode(t, err, "MetadataTooLarge", http.StatusBadRequest)
	e.absent(b, "meta")
}

// TestAnonymousContentSHA256: an anonymous write (allowed by a bucket
// policy) that declares x-amz-content-sha256 has its body checked
// against it, as a signed one does.
func TestAnonymousContentSHA256(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("anonsha")
	doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::%s/*"}]}`, b)
	if _, err := e.s3.PutBucketPolicy(ctx(t), &s3.PutBucketPolicyInput{Bucket: &b, Policy: &doc}); err != nil {
		t.Fatal(err)
	}
	body := []byte("anonymous bytes")
	sum := sha256.Sum256(body)
	other := sha256.Sum256([]byte("other bytes"))
	for _, c := range []struct {
		key, sha string
		status   int
		code     string
	}{
		{"wrong", hex.EncodeToString(other[:]), 400, "XAmzContentSHA256Mismatch"},
		{"garbage", "not-a-hash", 400, "InvalidArgument"},
		{"right", hex.EncodeToString(sum[:]), 200, ""},
		{"unsigned", "UNSIGNED-PAYLOAD", 200, ""},
	} {
		r := e.request(http.MethodPut, e.url(b, c.key), body)
		r.Header.Set("X-Amz-Content-Sha256", c.sha)
		st, h, out := e.do(r)
		if c.code != "" {
			wantErrorAt(t, st, h, out, c.status, c.code, "/"+b+"/"+c.key)
			e.absent(b, c.key)
			continue
		}
		if st != c.status {
			t.Errorf("%s: %d %s", c.key, st, out)
		}
	}
	if got := e.get(b, "right"); !bytes.Equal(got, body) {
		t.Errorf("stored %q", got)
	}
}

// TestExpectOtherThanContinue: an Expect other than 100-continue is an
// expectation the server cannot meet, answered 417 Expectation Failed
// before anything is read or stored (RFC 9110 §10.1.1; net/http's answer,
// which fastlane leaves to it). AWS's own answer to it is not documented.
func TestExpectOtherThanContinue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("expect")
	st, _, out := e.signed(http.MethodPut, e.url(b, "k"), []byte("body"), map[string]string{"Expect": "200-ok"})
	if st != http.StatusExpectationFailed {
		t.Errorf("PUT with Expect: 200-ok: %d %s, want 417", st, out)
	}
	e.absent(b, "k")
	st, _, out = e.signed(http.MethodPut, e.url(b, "k"), []byte("body"), map[string]string{"Expect": "100-continue"})
	if st != http.StatusOK {
		t.Errorf("PUT with Expect: 100-continue: %d %s", st, out)
	}
}
