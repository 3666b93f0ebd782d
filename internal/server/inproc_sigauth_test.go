package server_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// publicRead lets anybody read the objects of bucket.
func (e *env) publicRead(bucket string) {
	e.t.Helper()
	doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}]}`, bucket)
	if _, err := e.s3.PutBucketPolicy(ctx(e.t), &s3.PutBucketPolicyInput{Bucket: &bucket, Policy: &doc}); err != nil {
		e.t.Fatalf("PutBucketPolicy: %v", err)
	}
}

// TestUnsignedAmzHeaderRefusedOnPresignedPut: a presigned PUT URL plus an
// x-amz-copy-source the signer never signed must not copy the signer's
// objects to where the holder can read them.
func TestUnsignedAmzHeaderRefusedOnPresignedPut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	secret := e.bucket("secret")
	e.put(secret, "keys", []byte("the signer's secret"))
	drop := e.bucket("drop")
	ps := s3.NewPresignClient(e.s3)
	signed, err := ps.PresignPutObject(ctx(t), &s3.PutObjectInput{Bucket: &drop, Key: aws.String("upload")}, s3.WithPresignExpires(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	send := func(copySource string) (int, []byte) {
		r, err := http.NewRequestWithContext(ctx(t), http.MethodPut, signed.URL, strings.NewReader("holder's bytes"))
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range signed.SignedHeader {
			if k != "Host" {
				r.Header[k] = vs
			}
		}
		if copySource != "" {
			r.Header.Set("X-Amz-Copy-Source", copySource)
		}
		st, _, body := e.do(r)
		return st, body
	}
	st, body := send("/" + secret + "/keys")
	wantError(t, st, body, http.StatusForbidden, "AccessDenied")
	if !bytes.Contains(body, []byte("There were headers present in the request which were not signed")) {
		t.Errorf("message: %s", body)
	}
	e.absent(drop, "upload")
	// The URL as signed still works.
	if st, body := send(""); st != http.StatusOK {
		t.Fatalf("presigned PUT as signed: %d %s", st, body)
	}
	if got := e.get(drop, "upload"); string(got) != "holder's bytes" {
		t.Errorf("uploaded %q", got)
	}
}

// TestV2PresignedHostCaseReachesSignedBucket: with --domain, a SigV2 URL
// signed for bucket A, sent with a Host whose domain differs in case, must
// not reach bucket B: the Host is parsed one way for the signature and for
// routing.
func TestV2PresignedHostCaseReachesSignedBucket(t *testing.T) {
	t.Parallel()
	const domain = "s3.test"
	e := newEnv(t, withDomain(domain))
	a := e.bucket("hosta")
	b := e.bucket("hostb")
	e.put(b, "k", []byte("bucket B's object"))
	e.put(a, b+"/k", []byte("bucket A's object"))
	port := e.host()[strings.LastIndexByte(e.host(), ':'):]
	// Signed for /A/B/k: virtual host A, path /B/k.
	u := e.presignV2("GET", "", a, b+"/k", time.Now().Add(5*time.Minute), "")
	target := strings.Replace(u, "/"+a+"/", "/", 1)
	for _, host := range []string{a + "." + domain, a + "." + strings.ToUpper(domain), strings.ToUpper(a) + "." + strings.ToUpper(domain)} {
		r := e.request(http.MethodGet, target, nil)
		r.Host = host + port
		st, _, out := e.do(r)
		if st != http.StatusOK || string(out) != "bucket A's object" {
			t.Errorf("Host %s: %d %q, want bucket A's object", host, st, out)
		}
	}
}

// TestAnonymousResponseOverridesRefused: nobody may have public content
// served with a Content-Type of their choosing (HTML on the cache's
// origin); signed callers may, as in S3.
func TestAnonymousResponseOverridesRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("public")
	e.put(b, "x.narinfo", []byte("<script>alert(1)</script>"))
	e.publicRead(b)
	for _, param := range []string{"response-content-type=text%2Fhtml", "response-content-disposition=inline", "response-content-encoding=gzip", "response-cache-control=x", "response-expires=x", "response-content-language=x"} {
		for _, ua := range []string{"aws-sdk-go-v2", "curl/8.0", "Mozilla/5.0"} {
			r := e.request(http.MethodGet, e.url(b, "x.narinfo")+"?"+param, nil)
			r.Header.Set("User-Agent", ua)
			st, hdr, out := e.do(r)
			if st != http.StatusBadRequest || strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
				t.Errorf("anonymous GET ?%s (%s): %d %s %q", param, ua, st, hdr.Get("Content-Type"), out)
			}
			if ua == "aws-sdk-go-v2" {
				wantError(t, st, out, http.StatusBadRequest, "InvalidRequest")
			}
		}
	}
	// Without overrides the public read works.
	r := e.request(http.MethodGet, e.url(b, "x.narinfo"), nil)
	if st, _, _ := e.do(r); st != http.StatusOK {
		t.Errorf("anonymous GET: %d", st)
	}
	// Signed: honoured.
	r = e.request(http.MethodGet, e.url(b, "x.narinfo")+"?response-content-type=text%2Fx-test", nil)
	e.signBody(r, nil)
	if st, hdr, _ := e.do(r); st != http.StatusOK || hdr.Get("Content-Type") != "text/x-test" {
		t.Errorf("signed GET with response-content-type: %d %s", st, hdr.Get("Content-Type"))
	}
}

// stalledBody is a request body that sends no byte until its context ends.
type stalledBody struct{ ctx context.Context }

func (s stalledBody) Read(p []byte) (int, error) {
	<-s.ctx.Done()
	return 0, s.ctx.Err()
}

// TestAnonymousDeleteObjectsRefusedUnread: an anonymous POST ?delete that
// no policy could allow is refused before its body is read (the server
// answers while the body has not been sent), and the same way whether the
// bucket exists or not.
func TestAnonymousDeleteObjectsRefusedUnread(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	private := e.bucket("private")
	public := e.bucket("public")
	e.publicRead(public) // grants anonymous reads, not deletes
	e.put(public, "k", []byte("kept"))
	answer := func(bucket string) (int, string) {
		c, cancel := context.WithTimeout(ctx(t), 20*time.Second)
		defer cancel()
		r, err := http.NewRequestWithContext(c, http.MethodPost, e.url(bucket, "")+"?delete", stalledBody{c})
		if err != nil {
			t.Fatal(err)
		}
		r.ContentLength = 4 << 20
		r.Header.Set("User-Agent", "aws-sdk-go-v2 (nixbucket e2e)")
		resp, err := e.ts.Client().Do(r)
		if err != nil {
			t.Fatalf("POST %s?delete: %v (the server waited for the body)", bucket, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var x s3Error
		if err := xml.Unmarshal(body, &x); err != nil {
			t.Fatalf("%s: %d %s", bucket, resp.StatusCode, body)
		}
		return resp.StatusCode, x.Code + ": " + x.Message
	}
	wantSt, want := answer(private)
	if wantSt != http.StatusForbidden || !strings.HasPrefix(want, "AccessDenied") {
		t.Fatalf("private bucket: %d %s", wantSt, want)
	}
	for _, b := range []string{public, "no-such-bucket-here"} {
		if st, got := answer(b); st != wantSt || got != want {
			t.Errorf("%s: %d %s; private bucket: %d %s", b, st, got, wantSt, want)
		}
	}
	if got := e.get(public, "k"); string(got) != "kept" {
		t.Errorf("object after refused deletes: %q", got)
	}
}
