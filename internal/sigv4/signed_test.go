package sigv4

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// presignedPUT returns a presigned PUT of /dst/key as aws-sdk-go-v2 makes it,
// with the headers the signer says to send.
func presignedPUT(t *testing.T, signedHeaders map[string]string) *http.Request {
	t.Helper()
	r := mustRequest(t, "PUT", "http://127.0.0.1:9000/dst/key?X-Amz-Expires=300", nil)
	for k, v := range signedHeaders {
		r.Header.Set(k, v)
	}
	signed, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), testCreds, r, unsignedPayload, "s3", "us-east-1", testTime)
	if err != nil {
		t.Fatal(err)
	}
	out := mustRequest(t, "PUT", signed, nil)
	for k, vs := range hdr {
		if k != "Host" {
			out.Header[k] = vs
		}
	}
	return out
}

func TestUnsignedAmzHeaderRefused(t *testing.T) {
	v := newTestVerifier(testTime)
	headerSigned := func(t *testing.T) *http.Request {
		return signedDirect(t, "PUT", "http://127.0.0.1:9000/dst/key", "data", testTime, "")
	}
	tests := []struct {
		name string
		req  func(t *testing.T) *http.Request
		ok   bool
	}{
		{name: "presigned as signed", ok: true, req: func(t *testing.T) *http.Request { return presignedPUT(t, nil) }},
		{name: "presigned plus x-amz-copy-source", req: func(t *testing.T) *http.Request {
			r := presignedPUT(t, nil)
			r.Header.Set("X-Amz-Copy-Source", "/secret/object")
			return r
		}},
		{name: "presigned plus x-amz-meta in lowercase", req: func(t *testing.T) *http.Request {
			r := presignedPUT(t, nil)
			r.Header["x-amz-meta-size"] = []string{"1"} // not canonicalised by Go
			return r
		}},
		{name: "presigned with a signed x-amz-meta", ok: true, req: func(t *testing.T) *http.Request {
			return presignedPUT(t, map[string]string{"X-Amz-Meta-Color": "red"})
		}},
		{name: "presigned plus an unsigned x-amz-content-sha256", ok: true, req: func(t *testing.T) *http.Request {
			r := presignedPUT(t, nil)
			r.Header.Set("X-Amz-Content-Sha256", unsignedPayload)
			return r
		}},
		{name: "header-signed as signed", ok: true, req: headerSigned},
		{name: "header-signed plus x-amz-copy-source", req: func(t *testing.T) *http.Request {
			r := headerSigned(t)
			r.Header.Set("X-Amz-Copy-Source", "/secret/object")
			return r
		}},
		{name: "header-signed plus x-amz-acl", req: func(t *testing.T) *http.Request {
			r := headerSigned(t)
			r.Header.Set("X-Amz-Acl", "public-read")
			return r
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.req(t))
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, CodeAccessDenied)
			if !strings.Contains(err.Error(), "There were headers present in the request which were not signed") {
				t.Fatalf("message: %v", err)
			}
		})
	}
}

// signWithHeaders signs r with exactly the listed headers, by hand, so a
// signature that leaves out host can be made.
func signWithHeaders(r *http.Request, signedHeaders string) {
	amzDate := testTime.Format(amzDateLayout)
	r.Header.Set("X-Amz-Date", amzDate)
	r.Header.Set("X-Amz-Content-Sha256", unsignedPayload)
	pairs, _ := parseQuery(r.URL.RawQuery)
	cr := appendCanonicalRequest(nil, r, false, pairs, false, signedHeaders, unsignedPayload)
	scope := amzDate[:8] + "/us-east-1/s3/aws4_request"
	sts := algorithm + "\n" + amzDate + "\n" + scope + "\n" + sha256Hex(cr)
	sig := refHMAC(refSigningKey(testSecret, amzDate[:8], "us-east-1"), sts)
	r.Header.Set("Authorization", algorithm+" Credential="+testAK+"/"+scope+", SignedHeaders="+signedHeaders+", Signature="+hexString(sig))
}

func TestHostMustBeSigned(t *testing.T) {
	v := newTestVerifier(testTime)
	r := mustRequest(t, "GET", "http://127.0.0.1:9000/bucket/key", nil)
	signWithHeaders(r, "host;x-amz-content-sha256;x-amz-date")
	if _, err := v.Verify(r); err != nil {
		t.Fatalf("with host signed: %v", err)
	}
	r = mustRequest(t, "GET", "http://127.0.0.1:9000/bucket/key", nil)
	signWithHeaders(r, "x-amz-content-sha256;x-amz-date")
	_, err := v.Verify(r)
	wantCode(t, err, CodeAccessDenied)
}

func TestExtraSignatureParameterRefused(t *testing.T) {
	v := newTestVerifier(testTime)
	t.Run("v4", func(t *testing.T) {
		r := presignedPUT(t, nil)
		if _, err := v.Verify(r); err != nil {
			t.Fatal(err)
		}
		for _, extra := range []string{"X-Amz-Signature=" + strings.Repeat("0", 64), "x-amz-signature=00", "X-Amz-Credential=x"} {
			r := presignedPUT(t, nil)
			r.URL.RawQuery += "&" + extra
			_, err := v.Verify(r)
			wantCode(t, err, CodeAuthorizationQueryParametersError)
		}
	})
	t.Run("v2", func(t *testing.T) {
		exp := strconv.FormatInt(testTime.Add(time.Minute).Unix(), 10)
		good := url.QueryEscape(signV2("GET\n\n\n" + exp + "\n/bucket/key"))
		target := "http://127.0.0.1:9000/bucket/key?AWSAccessKeyId=" + testAK + "&Expires=" + exp + "&Signature=" + good
		if _, err := v.Verify(mustRequest(t, "GET", target, nil)); err != nil {
			t.Fatal(err)
		}
		for _, extra := range []string{"&Signature=AAAA", "&Signature=" + good, "&AWSAccessKeyId=other", "&Expires=1"} {
			_, err := v.Verify(mustRequest(t, "GET", target+extra, nil))
			wantCode(t, err, CodeInvalidArgument)
		}
	})
}

func TestVirtualHostBucket(t *testing.T) {
	tests := []struct {
		host, domain, bucket string
		ok                   bool
	}{
		{"a.s3.example.test", "s3.example.test", "a", true},
		{"A.S3.Example.Test", "s3.example.test", "a", true},
		{"a.s3.example.test:9000", "s3.example.test", "a", true},
		{"My.Bucket.s3.example.test", "S3.EXAMPLE.TEST", "my.bucket", true},
		{"s3.example.test", "s3.example.test", "", false},
		{".s3.example.test", "s3.example.test", "", false},
		{"a.s3.example.test.", "s3.example.test", "", false},
		{"as3.example.test", "s3.example.test", "", false},
		{"a.s3.example.test", "", "", false},
		{"[::1]:9000", "s3.example.test", "", false},
	}
	for _, tc := range tests {
		b, ok := VirtualHostBucket(tc.host, tc.domain)
		if b != tc.bucket || ok != tc.ok {
			t.Errorf("VirtualHostBucket(%q, %q) = %q, %v; want %q, %v", tc.host, tc.domain, b, ok, tc.bucket, tc.ok)
		}
	}
}

// TestUnknownKeyTakesTheSignedPath: an unknown access key is refused only
// after a signature has been computed, as for a wrong secret, so the two
// take the same work; the signing key derived for it is remembered like
// any other.
func TestUnknownKeyTakesTheSignedPath(t *testing.T) {
	v := newTestVerifier(testTime)
	r := signedDirect(t, "GET", "http://127.0.0.1:9000/bucket/key", "", testTime, "")
	r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), testAK, "AKIANOSUCHKEY0000000", 1))
	_, err := v.Verify(r)
	wantCode(t, err, CodeSignatureDoesNotMatch)
	r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AKIANOSUCHKEY0000000", "AKIANOSUCHKEY0000001", 1))
	_, err = v.Verify(r)
	wantCode(t, err, CodeSignatureDoesNotMatch)
	v.keys.mu.Lock()
	n := len(v.keys.m)
	v.keys.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d signing keys derived for two unknown access keys, want one stand-in", n)
	}
	// V2 too.
	exp := strconv.FormatInt(testTime.Add(time.Minute).Unix(), 10)
	target := "http://127.0.0.1:9000/bucket/key?AWSAccessKeyId=NOPE&Expires=" + exp + "&Signature=" +
		url.QueryEscape(signV2("GET\n\n\n"+exp+"\n/bucket/key"))
	_, err = v.Verify(mustRequest(t, "GET", target, nil))
	wantCode(t, err, CodeSignatureDoesNotMatch)
}
