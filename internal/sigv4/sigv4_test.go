package sigv4

import (
	"bytes"
	"context"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"
)

var testCreds = aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSecret}

// s3Escaping signs the path as escaped, like the S3 client (which escapes
// keys itself with httpbinding.EscapePath).
func s3Escaping(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }

// sdkShape is one request shape signed by aws-sdk-go-v2's signer.
type sdkShape struct {
	name    string
	method  string
	path    string // decoded: /bucket/key
	query   string // raw query as sent
	region  string
	headers map[string][]string
	body    string
	payload string // x-amz-content-sha256; "" = SHA-256 of body
}

var sdkShapes = []sdkShape{
	{name: "get", method: "GET", path: "/bucket/key.txt"},
	{name: "root", method: "GET", path: "/"},
	{name: "bucket", method: "GET", path: "/bucket"},
	{name: "spaces", method: "GET", path: "/bucket/a key with  spaces"},
	{name: "unicode", method: "GET", path: "/bucket/ünï/cødé/日本語.nar"},
	{name: "specials", method: "GET", path: "/bucket/a+b~c=d&e;f,g:h@i!j*k'l(m)n$o"},
	{name: "percent", method: "GET", path: "/bucket/100%25/%2F?#"},
	{name: "double slash", method: "GET", path: "/bucket//nested//key/"},
	{name: "nix", method: "GET", path: "/cache/nar/1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3.nar.zst"},
	{name: "bare key", method: "POST", path: "/bucket/big.nar", query: "uploads"},
	{name: "location", method: "GET", path: "/bucket", query: "location"},
	{name: "x-id", method: "PUT", path: "/bucket/k", query: "x-id=PutObject", body: "hello"},
	{name: "part", method: "PUT", path: "/bucket/k", query: "partNumber=3&uploadId=abc%2Bdef%3D%3D", body: "part"},
	{name: "list v2", method: "GET", path: "/bucket", query: "list-type=2&prefix=a%20b%2Bc&delimiter=%2F&start-after=%E2%82%AC&max-keys=10"},
	{name: "query order", method: "GET", path: "/bucket", query: "b=2&a=2&a=1&A=0&a-b=x&a%2Fb=y"},
	{name: "empty values", method: "GET", path: "/bucket", query: "versions&prefix=&delete"},
	{name: "eu-west-2", method: "GET", path: "/bucket/k", region: "eu-west-2"},
	{name: "auto region", method: "GET", path: "/bucket/k", region: "auto"},
	{name: "headers", method: "PUT", path: "/bucket/k", body: "data",
		headers: map[string][]string{
			"Content-Type":      {"text/x-nix-narinfo"},
			"X-Amz-Meta-Spaces": {"  a   b  c  "},
			"X-Amz-Meta-Multi":  {"one", "two"},
			"Content-Md5":       {"XUFAKrxLKna5cZ2REBfFkg=="},
			"Cache-Control":     {"max-age=60"},
			"If-None-Match":     {"*"},
		}},
	{name: "range", method: "GET", path: "/bucket/k", headers: map[string][]string{"Range": {"bytes=0-9"}}},
	{name: "unsigned payload", method: "PUT", path: "/bucket/k", body: "unsigned body", payload: unsignedPayload},
	{name: "empty body put", method: "PUT", path: "/bucket/empty"},
	{name: "delete objects", method: "POST", path: "/bucket", query: "delete", body: "<Delete/>"},
}

// sdkRequest builds the client request for a shape, escaped the way the S3
// SDK does (which is why the signer runs with DisableURIPathEscaping).
func sdkRequest(t *testing.T, base string, s sdkShape) *http.Request {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = s.path
	u.RawPath = httpbinding.EscapePath(s.path, false)
	u.RawQuery = s.query
	req, err := http.NewRequest(s.method, u.String(), strings.NewReader(s.body))
	if err != nil {
		t.Fatal(err)
	}
	req.URL.RawPath = u.RawPath // NewRequest reparses; keep the SDK's escaping
	if s.body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for k, vs := range s.headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return req
}

func (s sdkShape) payloadHash() string {
	if s.payload != "" {
		return s.payload
	}
	return sha256Hex([]byte(s.body))
}

func (s sdkShape) signingRegion() string {
	if s.region != "" {
		return s.region
	}
	return "us-east-1"
}

func signSDK(t *testing.T, req *http.Request, s sdkShape, at time.Time) {
	t.Helper()
	req.Header.Set("X-Amz-Content-Sha256", s.payloadHash())
	err := v4.NewSigner().SignHTTP(context.Background(), testCreds, req, s.payloadHash(), "s3", s.signingRegion(), at, s3Escaping)
	if err != nil {
		t.Fatal(err)
	}
}

func TestSDKHeaderSigned(t *testing.T) {
	v := newTestVerifier(time.Now())
	srv := httptest.NewServer(verifyHandler(v, nil))
	defer srv.Close()
	for _, s := range sdkShapes {
		t.Run(s.name, func(t *testing.T) {
			req := sdkRequest(t, srv.URL, s)
			signSDK(t, req, s, time.Now())
			got := roundTrip(t, req)
			if got.Code != "" {
				t.Fatalf("verify: %s: %s", got.Code, got.Message)
			}
			if got.AccessKey != testAK || got.Version != 4 || got.Anonymous {
				t.Fatalf("verdict %+v", got)
			}
			if got.BodyLen != int64(len(s.body)) || got.DecodedLength != int64(len(s.body)) {
				t.Fatalf("body length %d, decoded length %d, want %d", got.BodyLen, got.DecodedLength, len(s.body))
			}
			wantPayload := ""
			if s.payload == "" {
				wantPayload = sha256Hex([]byte(s.body))
			}
			if got.PayloadSHA256 != wantPayload {
				t.Fatalf("PayloadSHA256 = %q, want %q", got.PayloadSHA256, wantPayload)
			}
		})
	}
}

func TestSDKPresigned(t *testing.T) {
	v := newTestVerifier(time.Now())
	srv := httptest.NewServer(verifyHandler(v, nil))
	defer srv.Close()
	for _, s := range sdkShapes {
		t.Run(s.name, func(t *testing.T) {
			req := sdkRequest(t, srv.URL, s)
			q := req.URL.Query()
			q.Set("X-Amz-Expires", "900")
			req.URL.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
			signed, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), testCreds, req, unsignedPayload, "s3",
				s.signingRegion(), time.Now(), s3Escaping)
			if err != nil {
				t.Fatal(err)
			}
			preq, err := http.NewRequest(s.method, signed, strings.NewReader(s.body))
			if err != nil {
				t.Fatal(err)
			}
			if s.body == "" {
				preq.Body, preq.ContentLength = http.NoBody, 0
			}
			for k, vs := range hdr {
				if k != "Host" {
					preq.Header[k] = vs
				}
			}
			got := roundTrip(t, preq)
			if got.Code != "" {
				t.Fatalf("verify %s: %s: %s", signed, got.Code, got.Message)
			}
			if got.AccessKey != testAK || got.PayloadSHA256 != "" || got.BodyLen != int64(len(s.body)) {
				t.Fatalf("verdict %+v", got)
			}
		})
	}
}

// signedDirect signs a client-style request for direct Verify calls.
func signedDirect(t *testing.T, method, target string, body string, at time.Time, region string) *http.Request {
	t.Helper()
	r := mustRequest(t, method, target, []byte(body))
	s := sdkShape{body: body, region: region}
	signSDK(t, r, s, at)
	return r
}

func TestHeaderFailures(t *testing.T) {
	const target = "http://127.0.0.1:9000/bucket/key"
	tests := []struct {
		name   string
		now    time.Time
		mutate func(r *http.Request)
		v      func(v *Verifier)
		code   string
	}{
		{name: "ok", mutate: func(*http.Request) {}},
		{name: "flipped signature", code: CodeSignatureDoesNotMatch, mutate: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			last := a[len(a)-1]
			flip := byte('0')
			if last == '0' {
				flip = '1'
			}
			r.Header.Set("Authorization", a[:len(a)-1]+string(flip))
		}},
		{name: "short signature", code: CodeSignatureDoesNotMatch, mutate: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-2])
		}},
		{name: "wrong secret", code: CodeSignatureDoesNotMatch, v: func(v *Verifier) {
			v.Lookup = testLookup(map[string]string{testAK: testSecret + "x"})
		}, mutate: func(*http.Request) {}},
		{name: "unknown key", code: CodeSignatureDoesNotMatch, v: func(v *Verifier) {
			v.Lookup = testLookup(map[string]string{"someone-else": testSecret})
		}, mutate: func(*http.Request) {}},
		{name: "changed date", code: CodeAuthorizationHeaderMalformed, mutate: func(r *http.Request) {
			r.Header.Set("X-Amz-Date", testTime.Add(24*time.Hour).Format(amzDateLayout))
		}},
		{name: "changed time", code: CodeSignatureDoesNotMatch, mutate: func(r *http.Request) {
			r.Header.Set("X-Amz-Date", testTime.Add(time.Second).Format(amzDateLayout))
		}},
		{name: "changed path", code: CodeSignatureDoesNotMatch, mutate: func(r *http.Request) { r.URL.Path = "/bucket/other" }},
		{name: "changed host", code: CodeSignatureDoesNotMatch, mutate: func(r *http.Request) { r.Host = "evil:9000" }},
		{name: "added query", code: CodeSignatureDoesNotMatch, mutate: func(r *http.Request) { r.URL.RawQuery = "acl" }},
		{name: "changed payload", code: CodeSignatureDoesNotMatch, mutate: func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", sha256Hex([]byte("other")))
		}},
		{name: "bad payload", code: CodeInvalidArgument, mutate: func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", "abc")
		}},
		{name: "sigv4a payload", code: CodeNotImplemented, mutate: func(r *http.Request) {
			r.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD")
		}},
		{name: "missing payload with body", code: CodeInvalidRequest, mutate: func(r *http.Request) {
			r.Header.Del("X-Amz-Content-Sha256")
			r.ContentLength = 3
		}},
		{name: "skewed past", now: testTime.Add(16 * time.Minute), code: CodeRequestTimeTooSkewed, mutate: func(*http.Request) {}},
		{name: "skewed future", now: testTime.Add(-16 * time.Minute), code: CodeRequestTimeTooSkewed, mutate: func(*http.Request) {}},
		{name: "within skew", now: testTime.Add(14 * time.Minute), mutate: func(*http.Request) {}},
		{name: "no date", code: CodeAccessDenied, mutate: func(r *http.Request) { r.Header.Del("X-Amz-Date") }},
		{name: "bad date", code: CodeAccessDenied, mutate: func(r *http.Request) { r.Header.Set("X-Amz-Date", "yesterday") }},
		{name: "strict region", code: CodeAuthorizationHeaderMalformed, v: func(v *Verifier) {
			v.StrictRegion, v.Region = true, "eu-west-2"
		}, mutate: func(*http.Request) {}},
		{name: "strict region match", v: func(v *Verifier) { v.StrictRegion = true }, mutate: func(*http.Request) {}},
		{name: "wrong service", code: CodeAuthorizationHeaderMalformed, mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/s3/", "/iam/", 1))
		}},
		{name: "no signature", code: CodeAuthorizationHeaderMalformed, mutate: func(r *http.Request) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:strings.Index(a, ", Signature=")])
		}},
		{name: "short credential", code: CodeAuthorizationHeaderMalformed, mutate: func(r *http.Request) {
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AK/20260314/us-east-1, SignedHeaders=host, Signature=00")
		}},
		{name: "sigv4a", code: CodeInvalidArgument, mutate: func(r *http.Request) {
			r.Header.Set("Authorization", "AWS4-ECDSA-P256-SHA256 Credential=x")
		}},
		{name: "header and query", code: CodeInvalidArgument, mutate: func(r *http.Request) {
			r.URL.RawQuery = "X-Amz-Signature=00"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = testTime
			}
			v := newTestVerifier(now)
			if tc.v != nil {
				tc.v(v)
			}
			r := signedDirect(t, "GET", target, "", testTime, "")
			tc.mutate(r)
			res, err := v.Verify(r)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if res.AccessKeyID != testAK {
					t.Fatalf("access key %q", res.AccessKeyID)
				}
				return
			}
			wantCode(t, err, tc.code)
		})
	}
}

func TestDateHeader(t *testing.T) {
	// Signed with Date instead of X-Amz-Date: the string to sign carries the
	// same instant in ISO 8601 basic format.
	r := mustRequest(t, "GET", "http://h/bucket/k", nil)
	r.Header.Set("Date", testTime.Format(http.TimeFormat))
	r.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	scope := testTime.Format("20060102") + "/us-east-1/s3/aws4_request"
	canon := "GET\n/bucket/k\n\ndate:" + testTime.Format(http.TimeFormat) + "\nhost:h\nx-amz-content-sha256:" + emptySHA256 +
		"\n\ndate;host;x-amz-content-sha256\n" + emptySHA256
	sts := "AWS4-HMAC-SHA256\n" + testTime.Format(amzDateLayout) + "\n" + scope + "\n" + sha256Hex([]byte(canon))
	sig := refHMAC(refSigningKey(testSecret, testTime.Format("20060102"), "us-east-1"), sts)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testAK+"/"+scope+
		",SignedHeaders=date;host;x-amz-content-sha256,Signature="+hexString(sig))
	if _, err := newTestVerifier(testTime).Verify(r); err != nil {
		t.Fatal(err)
	}
	// curl --aws-sigv4 without x-amz-content-sha256 on a bodiless GET.
	r.Header.Del("X-Amz-Content-Sha256")
	canon = "GET\n/bucket/k\n\ndate:" + testTime.Format(http.TimeFormat) + "\nhost:h\n\ndate;host\n" + emptySHA256
	sts = "AWS4-HMAC-SHA256\n" + testTime.Format(amzDateLayout) + "\n" + scope + "\n" + sha256Hex([]byte(canon))
	sig = refHMAC(refSigningKey(testSecret, testTime.Format("20060102"), "us-east-1"), sts)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testAK+"/"+scope+
		", SignedHeaders=date;host, Signature="+hexString(sig))
	r.ContentLength = 0
	res, err := newTestVerifier(testTime).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	if hexString(res.PayloadSHA256) != emptySHA256 {
		t.Fatalf("PayloadSHA256 = %x", res.PayloadSHA256)
	}
}

func TestPresignFailures(t *testing.T) {
	presign := func(t *testing.T, expires string, at time.Time) *http.Request {
		t.Helper()
		r := mustRequest(t, "GET", "http://127.0.0.1:9000/bucket/key?X-Amz-Expires="+expires, nil)
		signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), testCreds, r, unsignedPayload, "s3", "us-east-1", at)
		if err != nil {
			t.Fatal(err)
		}
		return mustRequest(t, "GET", signed, nil)
	}
	tests := []struct {
		name    string
		expires string
		now     time.Time
		mutate  func(r *http.Request)
		code    string
	}{
		{name: "ok", expires: "60", now: testTime.Add(59 * time.Second)},
		{name: "expired", expires: "60", now: testTime.Add(61 * time.Second), code: CodeAccessDenied},
		{name: "a week", expires: "604800", now: testTime.Add(6 * 24 * time.Hour)},
		{name: "over a week", expires: "604801", now: testTime, code: CodeAuthorizationQueryParametersError},
		{name: "negative", expires: "-1", now: testTime, code: CodeAuthorizationQueryParametersError},
		{name: "not a number", expires: "soon", now: testTime, code: CodeAuthorizationQueryParametersError},
		{name: "not yet valid", expires: "3600", now: testTime.Add(-20 * time.Minute), code: CodeAccessDenied},
		{name: "flipped signature", expires: "60", now: testTime, code: CodeSignatureDoesNotMatch, mutate: func(r *http.Request) {
			q := r.URL.Query()
			s := []byte(q.Get("X-Amz-Signature"))
			s[0] ^= 1
			q.Set("X-Amz-Signature", string(s))
			r.URL.RawQuery = q.Encode()
		}},
		{name: "changed expiry", expires: "60", now: testTime, code: CodeSignatureDoesNotMatch, mutate: func(r *http.Request) {
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "X-Amz-Expires=60", "X-Amz-Expires=600", 1)
		}},
		{name: "missing date", expires: "60", now: testTime, code: CodeAuthorizationQueryParametersError, mutate: func(r *http.Request) {
			q := r.URL.Query()
			q.Del("X-Amz-Date")
			r.URL.RawQuery = q.Encode()
		}},
		{name: "other algorithm", expires: "60", now: testTime, code: CodeAuthorizationQueryParametersError, mutate: func(r *http.Request) {
			q := r.URL.Query()
			q.Set("X-Amz-Algorithm", "AWS4-HMAC-SHA512")
			r.URL.RawQuery = q.Encode()
		}},
		{name: "unknown key", expires: "60", now: testTime, code: CodeSignatureDoesNotMatch, mutate: func(r *http.Request) {
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, testAK, "NOSUCHKEY", 1)
		}},
		{name: "bad escape", expires: "60", now: testTime, code: CodeInvalidArgument, mutate: func(r *http.Request) {
			r.URL.RawQuery += "&x=%zz"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := presign(t, tc.expires, testTime)
			if tc.mutate != nil {
				tc.mutate(r)
			}
			res, err := newTestVerifier(tc.now).Verify(r)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if res.AccessKeyID != testAK || res.PayloadSHA256 != nil {
					t.Fatalf("result %+v", res)
				}
				return
			}
			wantCode(t, err, tc.code)
		})
	}
}

func TestAnonymous(t *testing.T) {
	r := mustRequest(t, "PUT", "http://h/bucket/k?acl", []byte("body"))
	res, err := newTestVerifier(testTime).Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Anonymous || res.AccessKeyID != "" || res.DecodedLength != 4 || res.Body != r.Body {
		t.Fatalf("result %+v", res)
	}
}

func TestLookupError(t *testing.T) {
	v := newTestVerifier(testTime)
	boom := &Error{Code: "x"} // any non-ErrUnknownKey error passes through wrapped
	v.Lookup = func(context.Context, string) (string, error) { return "", boom }
	_, err := v.Verify(signedDirect(t, "GET", "http://h/b/k", "", testTime, ""))
	if err == nil || !strings.Contains(err.Error(), testAK) {
		t.Fatalf("err = %v", err)
	}
}

func TestKeyCacheBounded(t *testing.T) {
	var c keyCache
	for i := range maxCachedKeys + 10 {
		c.get("ak", "secret", "20260314", "region-"+strconv.Itoa(i), "s3")
	}
	if len(c.m) > maxCachedKeys {
		t.Fatalf("cache holds %d keys", len(c.m))
	}
	got := c.get("ak", testSecret, "20130524", "us-east-1", "s3")
	if want := refSigningKey(testSecret, "20130524", "us-east-1"); !bytes.Equal(got[:], want) {
		t.Fatalf("derived key %x, want %x", got, want)
	}
}

func hexString(b []byte) string { return hex.EncodeToString(b) }
