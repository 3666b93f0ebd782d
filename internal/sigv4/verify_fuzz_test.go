package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"
)

// FuzzVerify drives Verify with what a client controls: the method, the
// path, one query parameter, one extra header and the Authorization
// header (or presigned query). Two properties:
//
//   - Whatever arrives, Verify never panics and fails only with *Error,
//     and it never accepts a forged Authorization header.
//   - A request aws-sdk-go-v2's signer signs (by header or presigned, as
//     the S3 clients sign: the path escaped once), sent over the wire and
//     read back by net/http as the server reads it, verifies as testAK.
//     This is the differential half: any request shape on which our
//     canonical request differs from the SDK's is a client that fails.
func FuzzVerify(f *testing.F) {
	f.Add("GET", "/bucket/key.txt", "", "", "", "", "", uint8(0))
	f.Add("PUT", "/bucket/a b/ü/%2F", "partNumber", "3", "X-Amz-Meta-A", "  a   b  ", "", uint8(1))
	f.Add("POST", "/bucket/k", "uploads", "", "Content-Type", "text/x-nix-narinfo", "", uint8(2))
	f.Add("GET", "/bucket", "prefix", "a+b c/é", "Range", "bytes=0-9", "", uint8(3))
	f.Add("GET", "/bucket/k", "", "", "", "", "AWS4-HMAC-SHA256 Credential="+testAK+"/20260314/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature="+strings.Repeat("0", 64), uint8(0))
	f.Add("GET", "/bucket/k", "", "", "", "", "AWS "+testAK+":AAAAAAAAAAAAAAAAAAAAAAAAAAA=", uint8(0))
	f.Add("GET", "/bucket", "list-type", "2", "X-Amz-Meta-Tab", "a\tb", "", uint8(0))
	f.Add("GET", "/bucket/k", "", "", "", "", "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="+testAK+"%2F20260314%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260314T150926Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature="+strings.Repeat("a", 64), uint8(0))
	f.Add("GET", "/bucket/k", "", "", "", "", "?AWSAccessKeyId="+testAK+"&Expires=1773500966&Signature=AAAAAAAAAAAAAAAAAAAAAAAAAAA%3D", uint8(0))
	f.Add("DELETE", "/bucket//a/./b/../c", "x-id", "DeleteObject", "", "", "", uint8(1))
	v := newTestVerifier(testTime)
	f.Fuzz(func(t *testing.T, method, path, qk, qv, hk, hv, auth string, mode uint8) {
		if !token(method) || !strings.HasPrefix(path, "/") || !utf8.ValidString(path) || strings.ContainsAny(path, "\x00") {
			return
		}
		if v4q, v2q := queryAuthKind(url.QueryEscape(qk)); v4q || v2q || strings.HasPrefix(strings.ToLower(qk), "x-amz-") {
			return // a second mechanism, or a parameter the presigner sets
		}
		hv = strings.Trim(hv, " \t") // net/http trims what it reads
		if hk != "" && (!token(hk) || !fieldValue(hv) || reservedHeader(hk)) {
			return
		}
		if !fieldValue(auth) || auth != strings.Trim(auth, " \t") {
			return
		}
		client := func() *http.Request {
			u := &url.URL{Scheme: "http", Host: "127.0.0.1:9000", Path: path, RawPath: httpbinding.EscapePath(path, false)}
			if qk != "" {
				u.RawQuery = strings.ReplaceAll(url.Values{qk: {qv}}.Encode(), "+", "%20")
			}
			r, err := http.NewRequest(method, u.String(), nil)
			if err != nil {
				t.Fatal(err)
			}
			r.URL.RawPath = u.RawPath
			if hk != "" {
				r.Header.Set(hk, hv)
			}
			return r
		}

		// Whatever the Authorization header (or, for an auth starting
		// with '?', the presigned query) says, it is no signature.
		if auth != "" {
			r := client()
			if q, ok := strings.CutPrefix(auth, "?"); ok {
				if strings.ContainsAny(q, " #\t") {
					return // net/http sends no such request line
				}
				r.URL.RawQuery = q
			} else {
				r.Header.Set("Authorization", auth)
			}
			r.Header.Set("X-Amz-Date", testTime.Format(amzDateLayout))
			sr := serverSide(t, r)
			res, err := v.Verify(sr)
			if v4q, v2q := queryAuthKind(sr.URL.RawQuery); err == nil && (!res.Anonymous || v4q || v2q || sr.Header.Get("Authorization") != "") {
				t.Fatalf("forged Authorization %q accepted: %+v", auth, res)
			}
			if err == nil {
				return // a query without credentials: anonymous
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Authorization %q: error %v (%T) is no *Error", auth, err, err)
			}
			return
		}

		// A request the SDK signs verifies.
		r := client()
		if mode&1 == 0 {
			r.Header.Set("X-Amz-Content-Sha256", unsignedPayload)
			if err := v4.NewSigner().SignHTTP(context.Background(), testCreds, r, unsignedPayload, "s3", "us-east-1", testTime, s3Escaping); err != nil {
				return // the SDK refuses to sign it
			}
		} else {
			if qk == "" {
				r.URL.RawQuery = "X-Amz-Expires=900"
			} else {
				r.URL.RawQuery += "&X-Amz-Expires=900"
			}
			signed, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), testCreds, r, unsignedPayload, "s3", "us-east-1", testTime, s3Escaping)
			if err != nil {
				return
			}
			su, err := url.Parse(signed)
			if err != nil {
				t.Fatalf("the SDK presigned an unparsable URL %q", signed)
			}
			// The client sends the URL with the signed headers only (the
			// signer moved x-amz-* headers into the query).
			r.URL.RawQuery = su.RawQuery
			r.Header = http.Header{}
			for k, vs := range hdr {
				if k != "Host" {
					r.Header[k] = vs
				}
			}
		}
		res, err := v.Verify(serverSide(t, r))
		if err != nil {
			t.Fatalf("%s %s (RawPath %q, query %q, header %q: %q) signed by aws-sdk-go-v2 (mode %d): %v",
				method, path, r.URL.RawPath, r.URL.RawQuery, hk, hv, mode&1, err)
		}
		if res.AccessKeyID != testAK || res.Version != 4 || res.Anonymous {
			t.Fatalf("result %+v", res)
		}
	})
}

// reservedHeader reports whether the fuzzer's extra header would clash
// with what the signers or net/http set themselves.
func reservedHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Authorization", "Host", "Content-Length", "Transfer-Encoding", "Connection", "Trailer", "Te", "Upgrade",
		"X-Amz-Date", "X-Amz-Content-Sha256", "X-Amz-Security-Token", "Expect":
		return true
	}
	return false
}

// token reports whether s is an HTTP token (a method or a header name).
func token(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// fieldValue reports whether s may be sent as a header value.
func fieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// serverSide sends r over the wire format and reads it back the way the
// server does.
func serverSide(t *testing.T, r *http.Request) *http.Request {
	t.Helper()
	var b bytes.Buffer
	if err := r.Write(&b); err != nil {
		t.Fatalf("writing the request: %v", err)
	}
	sr, err := http.ReadRequest(bufio.NewReader(&b))
	if err != nil {
		t.Skipf("net/http cannot read back what it wrote (%v): %q", err, b.String())
	}
	return sr
}
