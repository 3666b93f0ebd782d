package server_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
)

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func TestObjectHeadersStoredAndEchoed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("hdr")
	c := ctx(t)
	body := []byte("StorePath: /nix/store/abc-hello\n")
	meta := map[string]string{"foo": "bar", "mixed-case": "Value With Spaces", "nix": "1"}
	etag := e.put(b, "x.narinfo", body, func(in *s3.PutObjectInput) {
		in.ContentType = aws.String("text/x-nix-narinfo")
		in.ContentEncoding = aws.String("zstd")
		in.ContentDisposition = aws.String(`attachment; filename="x.narinfo"`)
		in.CacheControl = aws.String("max-age=60")
		in.ContentLanguage = aws.String("en")
		in.Metadata = map[string]string{"Foo": "bar", "Mixed-Case": "Value With Spaces", "nix": "1"}
	})
	if want := `"` + md5hex(body) + `"`; etag != want {
		t.Errorf("PutObject ETag %s, want %s", etag, want)
	}
	check := func(op string, ct, ce, cd, cc, cl *string, um map[string]string, n *int64, et *string, lm *time.Time) {
		t.Helper()
		for _, f := range []struct{ name, got, want string }{
			{"Content-Type", aws.ToString(ct), "text/x-nix-narinfo"},
			{"Content-Encoding", aws.ToString(ce), "zstd"},
			{"Content-Disposition", aws.ToString(cd), `attachment; filename="x.narinfo"`},
			{"Cache-Control", aws.ToString(cc), "max-age=60"},
			{"Content-Language", aws.ToString(cl), "en"},
			{"ETag", aws.ToString(et), etag},
		} {
			if f.got != f.want {
				t.Errorf("%s %s = %q, want %q", op, f.name, f.got, f.want)
			}
		}
		if !maps.Equal(um, meta) {
			t.Errorf("%s metadata = %v, want %v", op, um, meta)
		}
		if aws.ToInt64(n) != int64(len(body)) {
			t.Errorf("%s Content-Length %d, want %d", op, aws.ToInt64(n), len(body))
		}
		if d := time.Since(aws.ToTime(lm)); d < -2*time.Second || d > time.Minute {
			t.Errorf("%s Last-Modified %v is not now", op, aws.ToTime(lm))
		}
	}
	g, err := e.s3.GetObject(c, &s3.GetObjectInput{Bucket: &b, Key: aws.String("x.narinfo")})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	got, _ := io.ReadAll(g.Body)
	g.Body.Close()
	if !bytes.Equal(got, body) {
		t.Errorf("GetObject body %q", got)
	}
	check("GetObject", g.ContentType, g.ContentEncoding, g.ContentDisposition, g.CacheControl, g.ContentLanguage, g.Metadata, g.ContentLength, g.ETag, g.LastModified)
	if aws.ToString(g.AcceptRanges) != "bytes" {
		t.Errorf("Accept-Ranges %q", aws.ToString(g.AcceptRanges))
	}
	h, err := e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("x.narinfo")})
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	check("HeadObject", h.ContentType, h.ContentEncoding, h.ContentDisposition, h.CacheControl, h.ContentLanguage, h.Metadata, h.ContentLength, h.ETag, h.LastModified)

	// minio-go sees the same.
	st, err := e.mc.StatObject(c, b, "x.narinfo", minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("minio StatObject: %v", err)
	}
	if st.ContentType != "text/x-nix-narinfo" || st.UserMetadata["Foo"] != "bar" || st.Size != int64(len(body)) {
		t.Errorf("minio StatObject = type %q meta %v size %d", st.ContentType, st.UserMetadata, st.Size)
	}

	// Without a Content-Type S3 answers binary/octet-stream.
	r := e.request(http.MethodPut, e.url(b, "untyped"), []byte("x"))
	e.signBody(r, []byte("x"))
	if code, _, body := e.do(r); code != http.StatusOK {
		t.Fatalf("PUT untyped: %d %s", code, body)
	}
	h, err = e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("untyped")})
	if err != nil || aws.ToString(h.ContentType) != "binary/octet-stream" {
		t.Errorf("untyped object Content-Type %q (%v), want binary/octet-stream", aws.ToString(h.ContentType), err)
	}

	// An overwrite replaces body and headers alike.
	e.put(b, "x.narinfo", []byte("new"))
	h, err = e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("x.narinfo")})
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	if aws.ToString(h.ContentEncoding) != "" || len(h.Metadata) != 0 || aws.ToInt64(h.ContentLength) != 3 {
		t.Errorf("overwritten object keeps old headers: encoding %q meta %v length %d", aws.ToString(h.ContentEncoding), h.Metadata, aws.ToInt64(h.ContentLength))
	}
}

func TestConditionalPut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("cond")
	c := ctx(t)
	put := func(body string, f func(*s3.PutObjectInput)) (*s3.PutObjectOutput, error) {
		in := &s3.PutObjectInput{Bucket: &b, Key: aws.String("k"), Body: strings.NewReader(body)}
		f(in)
		return e.s3.PutObject(c, in)
	}
	first, err := put("one", func(in *s3.PutObjectInput) { in.IfNoneMatch = aws.String("*") })
	if err != nil {
		t.Fatalf("If-None-Match * on a new key: %v", err)
	}
	_, err = put("two", func(in *s3.PutObjectInput) { in.IfNoneMatch = aws.String("*") })
	wantCode(t, err, "PreconditionFailed", http.StatusPreconditionFailed)
	_, err = put("two", func(in *s3.PutObjectInput) { in.IfMatch = aws.String(`"0123456789abcdef0123456789abcdef"`) })
	wantCode(t, err, "PreconditionFailed", http.StatusPreconditionFailed)
	if got := e.get(b, "k"); string(got) != "one" {
		t.Fatalf("after refused writes the object is %q, want one", got)
	}
	second, err := put("two", func(in *s3.PutObjectInput) { in.IfMatch = first.ETag })
	if err != nil {
		t.Fatalf("If-Match with the current ETag: %v", err)
	}
	if got := e.get(b, "k"); string(got) != "two" {
		t.Fatalf("object is %q, want two", got)
	}
	// The old ETag no longer matches.
	_, err = put("three", func(in *s3.PutObjectInput) { in.IfMatch = first.ETag })
	wantCode(t, err, "PreconditionFailed", http.StatusPreconditionFailed)
	if _, err := put("three", func(in *s3.PutObjectInput) { in.IfMatch = second.ETag }); err != nil {
		t.Errorf("If-Match with the new ETag: %v", err)
	}
	// If-Match on a missing key: AWS answers NoSuchKey.
	_, err = e.s3.PutObject(c, &s3.PutObjectInput{Bucket: &b, Key: aws.String("nokey"), Body: strings.NewReader("x"), IfMatch: first.ETag})
	wantCode(t, err, "NoSuchKey", http.StatusNotFound)
	e.absent(b, "nokey")
}

func TestGetRange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("range")
	body := data(1, 100)
	e.put(b, "k", body)
	e.put(b, "empty", nil)
	for _, tc := range []struct {
		rng        string
		start, end int // expected bytes [start, end)
		cr         string
	}{
		{"bytes=0-9", 0, 10, "bytes 0-9/100"},
		{"bytes=-5", 95, 100, "bytes 95-99/100"},
		{"bytes=10-", 10, 100, "bytes 10-99/100"},
		{"bytes=95-200", 95, 100, "bytes 95-99/100"},
		{"bytes=99-99", 99, 100, "bytes 99-99/100"},
		{"bytes=-500", 0, 100, "bytes 0-99/100"},
	} {
		t.Run(tc.rng, func(t *testing.T) {
			out, err := e.s3.GetObject(ctx(t), &s3.GetObjectInput{Bucket: &b, Key: aws.String("k"), Range: aws.String(tc.rng)})
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			got, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if !bytes.Equal(got, body[tc.start:tc.end]) {
				t.Errorf("got %d bytes, want bytes %d-%d", len(got), tc.start, tc.end-1)
			}
			if cr := aws.ToString(out.ContentRange); cr != tc.cr {
				t.Errorf("Content-Range %q, want %q", cr, tc.cr)
			}
			if n := aws.ToInt64(out.ContentLength); n != int64(tc.end-tc.start) {
				t.Errorf("Content-Length %d", n)
			}
			r := e.request(http.MethodGet, e.url(b, "k"), nil)
			r.Header.Set("Range", tc.rng)
			e.signBody(r, nil)
			if st, _, _ := e.do(r); st != http.StatusPartialContent {
				t.Errorf("status %d, want 206", st)
			}
		})
	}
	for _, tc := range []struct{ key, rng string }{
		{"k", "bytes=100-"},
		{"k", "bytes=200-300"},
		// An empty object has no first byte (TestRangeEdgeCases).
		{"empty", "bytes=0-"},
	} {
		t.Run("unsatisfiable "+tc.key+" "+tc.rng, func(t *testing.T) {
			_, err := e.s3.GetObject(ctx(t), &s3.GetObjectInput{Bucket: &b, Key: aws.String(tc.key), Range: aws.String(tc.rng)})
			wantCode(t, err, "InvalidRange", http.StatusRequestedRangeNotSatisfiable)
		})
	}
}

func TestGetConditionals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("getcond")
	c := ctx(t)
	etag := e.put(b, "k", []byte("hello"))
	h, err := e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("k")})
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	lm := aws.ToTime(h.LastModified)
	past := lm.Add(-time.Hour)
	for _, tc := range []struct {
		name   string
		in     s3.GetObjectInput
		code   string // "" for success
		status int
	}{
		{"If-Match right", s3.GetObjectInput{IfMatch: aws.String(etag)}, "", 200},
		{"If-Match unquoted", s3.GetObjectInput{IfMatch: aws.String(strings.Trim(etag, `"`))}, "", 200},
		{"If-Match *", s3.GetObjectInput{IfMatch: aws.String("*")}, "", 200},
		{"If-Match wrong", s3.GetObjectInput{IfMatch: aws.String(`"nope"`)}, "PreconditionFailed", 412},
		// RFC 9110 §13.1.1: If-Match compares strongly, If-None-Match weakly.
		{"If-Match weak", s3.GetObjectInput{IfMatch: aws.String("W/" + etag)}, "PreconditionFailed", 412},
		{"If-None-Match weak", s3.GetObjectInput{IfNoneMatch: aws.String("W/" + etag)}, "NotModified", 304},
		{"If-None-Match right", s3.GetObjectInput{IfNoneMatch: aws.String(etag)}, "NotModified", 304},
		{"If-None-Match wrong", s3.GetObjectInput{IfNoneMatch: aws.String(`"nope"`)}, "", 200},
		{"If-Modified-Since past", s3.GetObjectInput{IfModifiedSince: &past}, "", 200},
		{"If-Modified-Since Last-Modified", s3.GetObjectInput{IfModifiedSince: &lm}, "NotModified", 304},
		{"If-Unmodified-Since past", s3.GetObjectInput{IfUnmodifiedSince: &past}, "PreconditionFailed", 412},
		{"If-Unmodified-Since Last-Modified", s3.GetObjectInput{IfUnmodifiedSince: &lm}, "", 200},
		// RFC 7232 order, as S3 applies it: If-Match wins over
		// If-Unmodified-Since, If-None-Match over If-Modified-Since.
		{"If-Match right, If-Unmodified-Since past", s3.GetObjectInput{IfMatch: aws.String(etag), IfUnmodifiedSince: &past}, "", 200},
		{"If-None-Match wrong, If-Modified-Since Last-Modified", s3.GetObjectInput{IfNoneMatch: aws.String(`"nope"`), IfModifiedSince: &lm}, "", 200},
		{"If-Match wrong, If-None-Match right", s3.GetObjectInput{IfMatch: aws.String(`"nope"`), IfNoneMatch: aws.String(etag)}, "PreconditionFailed", 412},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Bucket, in.Key = &b, aws.String("k")
			out, err := e.s3.GetObject(ctx(t), &in)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("GetObject: %v", err)
				}
				got, _ := io.ReadAll(out.Body)
				out.Body.Close()
				if string(got) != "hello" {
					t.Errorf("body %q", got)
				}
			} else {
				wantCode(t, err, tc.code, tc.status)
			}
			// HEAD answers the same status, without a body.
			hin := &s3.HeadObjectInput{Bucket: &b, Key: aws.String("k"), IfMatch: in.IfMatch, IfNoneMatch: in.IfNoneMatch,
				IfModifiedSince: in.IfModifiedSince, IfUnmodifiedSince: in.IfUnmodifiedSince}
			_, err = e.s3.HeadObject(ctx(t), hin)
			if tc.code == "" && err != nil {
				t.Errorf("HeadObject: %v", err)
			} else if tc.code != "" && status(err) != tc.status {
				t.Errorf("HeadObject: %v, want status %d", err, tc.status)
			}
		})
	}
}

func TestMissingObject(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("missing")
	c := ctx(t)
	_, err := e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("nope")})
	wantCode(t, err, "NotFound", http.StatusNotFound)
	r := e.request(http.MethodHead, e.url(b, "nope"), nil)
	e.signBody(r, nil)
	if st, _, body := e.do(r); st != http.StatusNotFound || len(body) != 0 {
		t.Errorf("HEAD missing key: %d with %q, want 404 without body", st, body)
	}
	_, err = e.s3.GetObject(c, &s3.GetObjectInput{Bucket: &b, Key: aws.String("nope")})
	wantCode(t, err, "NoSuchKey", http.StatusNotFound)
	r = e.request(http.MethodGet, e.url(b, "dir/nope"), nil)
	e.signBody(r, nil)
	st, _, body := e.do(r)
	wantError(t, st, body, http.StatusNotFound, "NoSuchKey")
	if !strings.Contains(string(body), "<Resource>/"+b+"/dir/nope</Resource>") {
		t.Errorf("NoSuchKey error lacks the Resource: %s", body)
	}
}

func TestDeleteObject(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("del")
	c := ctx(t)
	// Missing keys: 204 all the same.
	r := e.request(http.MethodDelete, e.url(b, "never-was"), nil)
	e.signBody(r, nil)
	if st, _, body := e.do(r); st != http.StatusNoContent {
		t.Errorf("DELETE missing key: %d %s, want 204", st, body)
	}
	if _, err := e.s3.DeleteObject(c, &s3.DeleteObjectInput{Bucket: &b, Key: aws.String("never-was")}); err != nil {
		t.Errorf("DeleteObject missing: %v", err)
	}
	e.put(b, "k", []byte("v"))
	if _, err := e.s3.DeleteObject(c, &s3.DeleteObjectInput{Bucket: &b, Key: aws.String("k")}); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	e.absent(b, "k")
	_, err := e.s3.DeleteObject(c, &s3.DeleteObjectInput{Bucket: aws.String("no-such-bucket"), Key: aws.String("k")})
	wantCode(t, err, "NoSuchBucket", http.StatusNotFound)
}

func TestDeleteObjects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("multidel")
	c := ctx(t)
	for _, k := range []string{"a", "b", "c", "d", "e/f"} {
		e.put(b, k, []byte(k))
	}
	ids := func(keys ...string) []types.ObjectIdentifier {
		var out []types.ObjectIdentifier
		for _, k := range keys {
			out = append(out, types.ObjectIdentifier{Key: aws.String(k)})
		}
		return out
	}

	// Not quiet: every key, missing ones included, is reported deleted.
	out, err := e.s3.DeleteObjects(c, &s3.DeleteObjectsInput{Bucket: &b, Delete: &types.Delete{Objects: ids("a", "b", "missing")}})
	if err != nil {
		t.Fatalf("DeleteObjects: %v", err)
	}
	var deleted []string
	for _, d := range out.Deleted {
		deleted = append(deleted, aws.ToString(d.Key))
	}
	if strings.Join(deleted, ",") != "a,b,missing" || len(out.Errors) != 0 {
		t.Errorf("DeleteObjects deleted %q, errors %v", deleted, out.Errors)
	}
	e.absent(b, "a")
	e.absent(b, "b")

	// Quiet: nothing reported but errors.
	out, err = e.s3.DeleteObjects(c, &s3.DeleteObjectsInput{Bucket: &b, Delete: &types.Delete{Objects: ids("c", "e/f"), Quiet: aws.Bool(true)}})
	if err != nil {
		t.Fatalf("DeleteObjects quiet: %v", err)
	}
	if len(out.Deleted) != 0 || len(out.Errors) != 0 {
		t.Errorf("quiet DeleteObjects reported %d deleted, %d errors", len(out.Deleted), len(out.Errors))
	}
	e.absent(b, "c")
	e.absent(b, "e/f")

	// Per-key errors: a key over 1024 bytes, and an ETag that does not
	// match; the good key beside them is still deleted.
	long := strings.Repeat("k", 1025)
	objs := append(ids(long, "d"), types.ObjectIdentifier{Key: aws.String("d2"), ETag: aws.String(`"00000000000000000000000000000000"`)})
	e.put(b, "d2", []byte("d2"))
	for _, quiet := range []bool{false, true} {
		e.put(b, "d", []byte("d"))
		out, err = e.s3.DeleteObjects(c, &s3.DeleteObjectsInput{Bucket: &b, Delete: &types.Delete{Objects: objs, Quiet: aws.Bool(quiet)}})
		if err != nil {
			t.Fatalf("DeleteObjects quiet=%v: %v", quiet, err)
		}
		errs := map[string]string{}
		for _, x := range out.Errors {
			errs[aws.ToString(x.Key)] = aws.ToString(x.Code)
			if aws.ToString(x.Message) == "" {
				t.Errorf("error entry for %.20q has no Message", aws.ToString(x.Key))
			}
		}
		if errs[long] != "KeyTooLongError" || errs["d2"] != "PreconditionFailed" || len(errs) != 2 {
			t.Errorf("quiet=%v: per-key errors %v, want KeyTooLongError for the long key and PreconditionFailed for d2", quiet, errs)
		}
		if quiet && len(out.Deleted) != 0 || !quiet && (len(out.Deleted) != 1 || aws.ToString(out.Deleted[0].Key) != "d") {
			t.Errorf("quiet=%v: deleted %v", quiet, out.Deleted)
		}
		e.absent(b, "d")
		if got := e.get(b, "d2"); string(got) != "d2" {
			t.Errorf("d2 deleted despite its ETag condition")
		}
	}

	// Malformed documents.
	for _, doc := range []string{"", "<Delete>", "<Delete></Delete>"} {
		r := e.request(http.MethodPost, e.url(b, "")+"?delete", []byte(doc))
		r.Header.Set("Content-MD5", md5b64([]byte(doc)))
		e.signBody(r, []byte(doc))
		st, _, body := e.do(r)
		wantError(t, st, body, http.StatusBadRequest, "MalformedXML")
	}
}
