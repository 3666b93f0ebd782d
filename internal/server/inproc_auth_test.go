package server_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	mcreds "github.com/minio/minio-go/v7/pkg/credentials"
)

func TestAuthErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("auth")
	e.put(b, "k", []byte("secret data"))
	c := ctx(t)

	_, err := e.newS3(e.id, e.secret+"x").GetObject(c, &s3.GetObjectInput{Bucket: &b, Key: aws.String("k")})
	wantCode(t, err, "SignatureDoesNotMatch", http.StatusForbidden)
	_, err = e.newS3("AKIDOESNOTEXIST00000", e.secret).GetObject(c, &s3.GetObjectInput{Bucket: &b, Key: aws.String("k")})
	wantCode(t, err, "SignatureDoesNotMatch", http.StatusForbidden)
	_, err = e.newS3(e.id, "wrong").ListBuckets(c, &s3.ListBucketsInput{})
	wantCode(t, err, "SignatureDoesNotMatch", http.StatusForbidden)
	_, err = e.newS3(e.id, "wrong").PutObject(c, &s3.PutObjectInput{Bucket: &b, Key: aws.String("bad-sig"), Body: strings.NewReader("x")})
	wantCode(t, err, "SignatureDoesNotMatch", http.StatusForbidden)
	e.absent(b, "bad-sig")
	_, err = e.newMinio(false, func(o *minio.Options) { o.Creds = mcreds.NewStaticV4(e.id, "wrong", "") }).
		PutObject(c, b, "bad-sig", strings.NewReader("x"), 1, minio.PutObjectOptions{})
	if minioCode(err) != "SignatureDoesNotMatch" {
		t.Errorf("minio-go with a wrong secret: %v", err)
	}
	e.absent(b, "bad-sig")

	// Clock skew: 15 minutes either way.
	for _, tc := range []struct {
		skew time.Duration
		ok   bool
	}{{-20 * time.Minute, false}, {20 * time.Minute, false}, {-10 * time.Minute, true}, {10 * time.Minute, true}} {
		r := e.request(http.MethodGet, e.url(b, "k"), nil)
		e.sign(r, emptySHA256, time.Now().Add(tc.skew))
		st, _, body := e.do(r)
		if tc.ok && st != http.StatusOK {
			t.Errorf("request dated %v: %d %s", tc.skew, st, body)
		} else if !tc.ok {
			wantError(t, st, body, http.StatusForbidden, "RequestTimeTooSkewed")
		}
	}

	// A header changed after signing.
	r := e.request(http.MethodPut, e.url(b, "changed"), []byte("x"))
	r.Header.Set("X-Amz-Meta-Owner", "alice")
	e.signBody(r, []byte("x"))
	r.Header.Set("X-Amz-Meta-Owner", "mallory")
	st, _, body := e.do(r)
	wantError(t, st, body, http.StatusForbidden, "SignatureDoesNotMatch")
	e.absent(b, "changed")

	// Malformed and mixed authentication.
	r = e.request(http.MethodGet, e.url(b, "k"), nil)
	r.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+e.id+"/20200101/us-east-1/s3/aws4_request")
	st, _, body = e.do(r)
	wantError(t, st, body, http.StatusBadRequest, "AuthorizationHeaderMalformed")
	r = e.request(http.MethodGet, e.url(b, "k"), nil)
	r.Header.Set("Authorization", "Bearer abc") // tokens are for plain-HTTP clients; this one is bogus
	st, _, body = e.do(r)
	wantError(t, st, body, http.StatusForbidden, "AccessDenied")
	r = e.request(http.MethodGet, e.url(b, "k")+"?X-Amz-Algorithm=AWS4-HMAC-SHA256", nil)
	e.signBody(r, nil)
	st, _, body = e.do(r)
	wantError(t, st, body, http.StatusBadRequest, "InvalidArgument")

	// Any region in the credential scope is accepted by default.
	if _, err := e.newS3(e.id, e.secret, func(o *s3.Options) { o.Region = "eu-west-2" }).HeadObject(c, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("k")}); err != nil {
		t.Errorf("signing for eu-west-2 on a lenient server: %v", err)
	}
}

func TestStrictRegion(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withStrictRegion())
	b := e.bucket("strict")
	_, err := e.newS3(e.id, e.secret, func(o *s3.Options) { o.Region = "eu-west-2" }).ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: &b})
	wantCode(t, err, "AuthorizationHeaderMalformed", http.StatusBadRequest)
	if _, err := e.s3.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: &b}); err != nil {
		t.Errorf("signing for the server's region: %v", err)
	}
}

func TestAnonymousRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("anon")
	e.put(b, "k", []byte("private"))
	for _, tc := range []struct{ method, url string }{
		{http.MethodGet, e.url(b, "k")},
		{http.MethodGet, e.url(b, "missing")},
		{http.MethodGet, e.url(b, "")},
		{http.MethodGet, e.url(b, "") + "?list-type=2"},
		{http.MethodGet, e.ts.URL + "/"},
		{http.MethodPut, e.url(b, "anon-put")},
		{http.MethodPut, e.url("anon-bucket", "")},
		{http.MethodDelete, e.url(b, "k")},
		{http.MethodPost, e.url(b, "mp") + "?uploads"},
	} {
		var body []byte
		if tc.method == http.MethodPut {
			body = []byte("x")
		}
		st, _, resp := e.do(e.request(tc.method, tc.url, body))
		t.Run(tc.method+" "+strings.TrimPrefix(tc.url, e.ts.URL), func(t *testing.T) {
			wantError(t, st, resp, http.StatusForbidden, "AccessDenied")
		})
	}
	r := e.request(http.MethodHead, e.url(b, "k"), nil)
	if st, _, resp := e.do(r); st != http.StatusForbidden || len(resp) != 0 {
		t.Errorf("anonymous HEAD: %d with %d body bytes, want 403 and none", st, len(resp))
	}
	e.absent(b, "anon-put")
	if got := e.get(b, "k"); string(got) != "private" {
		t.Errorf("anonymous DELETE removed the object")
	}
	if _, err := e.s3.HeadBucket(ctx(t), &s3.HeadBucketInput{Bucket: aws.String("anon-bucket")}); code(err) != "NotFound" {
		t.Errorf("anonymous CreateBucket: HeadBucket says %v", err)
	}
}

func TestPresignV4(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("presign")
	c := ctx(t)
	key := "dir/presigned ü+.txt"
	body := data(80, 10_000)
	pc := s3.NewPresignClient(e.s3)

	put, err := pc.PresignPutObject(c, &s3.PutObjectInput{Bucket: &b, Key: &key, ContentType: aws.String("text/plain")})
	if err != nil {
		t.Fatalf("PresignPutObject: %v", err)
	}
	r := e.request(put.Method, put.URL, body)
	for k, vs := range put.SignedHeader {
		if !strings.EqualFold(k, "Host") {
			r.Header[k] = vs
		}
	}
	if st, _, resp := e.do(r); st != http.StatusOK {
		t.Fatalf("presigned PUT %s: %d %s", put.URL, st, resp)
	}
	h, err := e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: &b, Key: &key})
	if err != nil || aws.ToString(h.ContentType) != "text/plain" {
		t.Errorf("presigned PUT stored type %q (%v)", aws.ToString(h.ContentType), err)
	}

	get, err := pc.PresignGetObject(c, &s3.GetObjectInput{Bucket: &b, Key: &key, ResponseContentDisposition: aws.String("attachment")})
	if err != nil {
		t.Fatalf("PresignGetObject: %v", err)
	}
	resp, err := http.Get(get.URL) // a plain client, nothing but the URL
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
		t.Fatalf("presigned GET: %d, %d bytes", resp.StatusCode, len(got))
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != "attachment" {
		t.Errorf("response-content-disposition ignored: %q", cd)
	}

	// Tampering: another key, another signature, another expiry.
	for name, edit := range map[string]func(u *url.URL){
		"key":       func(u *url.URL) { u.Path = "/" + b + "/other"; u.RawPath = "" },
		"signature": func(u *url.URL) { setQuery(u, "X-Amz-Signature", strings.Repeat("0", 64)) },
		"expires":   func(u *url.URL) { setQuery(u, "X-Amz-Expires", "3600") },
	} {
		u, _ := url.Parse(get.URL)
		edit(u)
		st, _, resp := e.do(e.request(http.MethodGet, u.String(), nil))
		t.Run("tampered "+name, func(t *testing.T) { wantError(t, st, resp, http.StatusForbidden, "SignatureDoesNotMatch") })
	}

	// Expired: signed an hour ago for a minute.
	presign := func(at time.Time, expires string, id string) string {
		r := e.request(http.MethodGet, e.url(b, key)+"?X-Amz-Expires="+expires, nil)
		u, _, err := newSigner().PresignHTTP(context.Background(), aws.Credentials{AccessKeyID: id, SecretAccessKey: e.secret}, r, "UNSIGNED-PAYLOAD", "s3", region, at)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	st, _, out := e.do(e.request(http.MethodGet, presign(time.Now().Add(-time.Hour), "60", e.id), nil))
	wantError(t, st, out, http.StatusForbidden, "AccessDenied")
	st, _, out = e.do(e.request(http.MethodGet, presign(time.Now().Add(-time.Minute), "3600", e.id), nil))
	if st != http.StatusOK || !bytes.Equal(out, body) {
		t.Errorf("hand-presigned GET: %d %.200s", st, out)
	}
	st, _, out = e.do(e.request(http.MethodGet, presign(time.Now(), "604801", e.id), nil))
	wantError(t, st, out, http.StatusBadRequest, "AuthorizationQueryParametersError")
	st, _, out = e.do(e.request(http.MethodGet, presign(time.Now(), "60", "AKIDOESNOTEXIST00000"), nil))
	wantError(t, st, out, http.StatusForbidden, "SignatureDoesNotMatch")

	// minio-go's presigned GET.
	mu, err := e.mc.PresignedGetObject(c, b, key, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, _, out = e.do(e.request(http.MethodGet, mu.String(), nil))
	if st != http.StatusOK || !bytes.Equal(out, body) {
		t.Errorf("minio-go presigned GET: %d", st)
	}
}

func setQuery(u *url.URL, k, v string) {
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
}

// presignV2 builds a Signature Version 2 query-string URL as boto3 and
// s3cmd do: Signature = base64(HMAC-SHA1(secret, string to sign)).
func (e *env) presignV2(method, contentType, bucket, key string, expires time.Time, sub string) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	resource := "/" + bucket + "/" + escapeKey(key)
	if sub != "" {
		resource += "?" + sub
	}
	sts := method + "\n\n" + contentType + "\n" + exp + "\n" + resource
	m := hmac.New(sha1.New, []byte(e.secret))
	m.Write([]byte(sts))
	sig := base64.StdEncoding.EncodeToString(m.Sum(nil))
	q := "AWSAccessKeyId=" + url.QueryEscape(e.id) + "&Expires=" + exp + "&Signature=" + url.QueryEscape(sig)
	if sub != "" {
		q = sub + "&" + q
	}
	return e.url(bucket, key) + "?" + q
}

func TestPresignV2(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("presignv2")
	key := "dir/v2 ü+key.narinfo"
	body := []byte("StorePath: /nix/store/x\n")
	e.put(b, key, body)
	soon := time.Now().Add(5 * time.Minute)

	st, h, out := e.do(e.request(http.MethodGet, e.presignV2("GET", "", b, key, soon, ""), nil))
	if st != http.StatusOK || !bytes.Equal(out, body) {
		t.Fatalf("SigV2 presigned GET: %d %s", st, out)
	}
	st, h, out = e.do(e.request(http.MethodGet, e.presignV2("GET", "", b, key, soon, "response-content-type=text/x-nix-narinfo"), nil))
	if st != http.StatusOK || h.Get("Content-Type") != "text/x-nix-narinfo" {
		t.Errorf("SigV2 GET with response-content-type: %d, type %q: %s", st, h.Get("Content-Type"), out)
	}

	u := e.presignV2("GET", "", b, key, soon, "")
	tampered := strings.Replace(u, "Signature=", "Signature=A", 1)
	st, _, out = e.do(e.request(http.MethodGet, tampered, nil))
	wantError(t, st, out, http.StatusForbidden, "SignatureDoesNotMatch")
	st, _, out = e.do(e.request(http.MethodGet, strings.Replace(u, escapeKey(key), escapeKey(key)+"x", 1), nil))
	wantError(t, st, out, http.StatusForbidden, "SignatureDoesNotMatch")
	st, _, out = e.do(e.request(http.MethodGet, strings.Replace(u, "Expires=", "Expires=1", 1), nil))
	wantError(t, st, out, http.StatusForbidden, "SignatureDoesNotMatch")
	st, _, out = e.do(e.request(http.MethodGet, e.presignV2("GET", "", b, key, time.Now().Add(-time.Minute), ""), nil))
	wantError(t, st, out, http.StatusForbidden, "AccessDenied")

	// A presigned PUT with a signed Content-Type.
	r := e.request(http.MethodPut, e.presignV2("PUT", "text/plain", b, "v2-put", soon, ""), []byte("put by v2"))
	r.Header.Set("Content-Type", "text/plain")
	if st, _, out := e.do(r); st != http.StatusOK {
		t.Fatalf("SigV2 presigned PUT: %d %s", st, out)
	}
	if got := e.get(b, "v2-put"); string(got) != "put by v2" {
		t.Errorf("SigV2 PUT stored %q", got)
	}

	// minio-go signing every request with Signature V2 headers.
	mc := e.newMinio(false, func(o *minio.Options) { o.Creds = mcreds.NewStaticV2(e.id, e.secret, "") })
	if _, err := mc.PutObject(ctx(t), b, "v2 header", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{ContentType: "text/plain"}); err != nil {
		t.Fatalf("minio-go V2 PutObject: %v", err)
	}
	o, err := mc.GetObject(ctx(t), b, "v2 header", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(o)
	o.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Errorf("minio-go V2 GetObject: %q, %v", got, err)
	}
	bad := e.newMinio(false, func(o *minio.Options) { o.Creds = mcreds.NewStaticV2(e.id, "wrong", "") })
	if _, err := bad.StatObject(ctx(t), b, "v2 header", minio.StatObjectOptions{}); minioCode(err) != "SignatureDoesNotMatch" && minioCode(err) != "AccessDenied" {
		t.Errorf("minio-go V2 with a wrong secret: %v", err)
	}
}

// TestUnknownKeySameAsWrongSecret: over S3 an unknown access key id gets
// exactly the answer (status, code, message) a known one with a wrong
// secret gets, so the answers do not tell which key ids exist.
func TestUnknownKeySameAsWrongSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("uniform")
	e.put(b, "k", []byte("v"))
	answer := func(id, secret string) string {
		r := e.request(http.MethodGet, e.url(b, "k"), nil)
		signAs(t, r, id, secret, "UNSIGNED-PAYLOAD", time.Now())
		st, _, out := e.do(r)
		var doc struct{ Code, Message string }
		if err := xml.Unmarshal(out, &doc); err != nil {
			t.Fatalf("%d %s: %v", st, out, err)
		}
		return fmt.Sprintf("%d %s %s", st, doc.Code, doc.Message)
	}
	wrong := answer(e.id, e.secret+"x")
	if !strings.HasPrefix(wrong, "403 SignatureDoesNotMatch ") {
		t.Fatalf("wrong secret: %s", wrong)
	}
	if got := answer("AKIDOESNOTEXIST00000", e.secret); got != wrong {
		t.Errorf("unknown key: %s\nwrong secret: %s", got, wrong)
	}
}
