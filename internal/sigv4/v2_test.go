package sigv4

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7/pkg/s3utils"
	"github.com/minio/minio-go/v7/pkg/signer"
)

var v2Keys = []string{
	"key.txt",
	"nar/0a1b2c.nar.xz",
	"a key with spaces",
	"ünï cødé/日本語",
	"a+b=c&d;e,f:g@h!i*j'k(l)m$n~o",
	"100%",
	"dir//double/",
}

// clientRequest builds a path-style client request whose wire path is the
// AWS encoding of the key, as minio-go and the SDKs send it.
func clientRequest(t *testing.T, method, base, bucket, key, query string) *http.Request {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + bucket + "/" + key
	u.RawPath = s3utils.EncodePath(u.Path)
	u.RawQuery = query
	r, err := http.NewRequest(method, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestV2MinioSigner(t *testing.T) {
	v := newTestVerifier(time.Now())
	v.Domain = "s3.example.test"
	srv := httptest.NewServer(verifyHandler(v, nil))
	defer srv.Close()
	queries := []string{"", "acl", "uploads", "partNumber=2&uploadId=xyz", "response-content-disposition=attachment%3B%20filename%3Dx.txt&x-id=GetObject"}
	for _, key := range v2Keys {
		for _, q := range queries {
			for _, virtual := range []bool{false, true} {
				t.Run(key+"?"+q+"/virtual="+strconv.FormatBool(virtual), func(t *testing.T) {
					// The signers share the request's URL and Header: one request each.
					mk := func() *http.Request {
						r := clientRequest(t, "GET", srv.URL, "bucket", key, q)
						if virtual {
							r.URL.Path = "/" + key
							r.URL.RawPath = s3utils.EncodePath(r.URL.Path)
							r.Host = "bucket." + v.Domain
						}
						return r
					}
					presigned := signer.PreSignV2(*mk(), testAK, testSecret, 300, virtual)
					presigned.Header.Del("Expires") // a browser fetching the URL sends no such header
					if got := roundTrip(t, presigned); got.Code != "" || got.Version != 2 || got.AccessKey != testAK {
						t.Fatalf("presigned %s: %+v", presigned.URL, got)
					}
					headerSigned := signer.SignV2(*mk(), testAK, testSecret, virtual)
					if got := roundTrip(t, headerSigned); got.Code != "" || got.Version != 2 {
						t.Fatalf("header-signed: %+v", got)
					}
				})
			}
		}
	}
}

func TestV2S3cmdSignurl(t *testing.T) {
	s3cmd := needTool(t, "s3cmd", "--version")
	v := newTestVerifier(time.Now())
	v.Domain = "s3.example.test"
	srv := httptest.NewServer(verifyHandler(v, nil))
	defer srv.Close()
	// s3cmd takes a second per call: a few keys suffice.
	for _, key := range []string{v2Keys[0], v2Keys[3], v2Keys[4]} {
		for _, virtual := range []bool{false, true} {
			t.Run(key+"/virtual="+strconv.FormatBool(virtual), func(t *testing.T) {
				// signurl is path-style unless --host-bucket names %(bucket)s;
				// then its virtual host is "BUCKET." + --host.
				host := strings.TrimPrefix(srv.URL, "http://")
				hostBucket := host
				if virtual {
					host, hostBucket = v.Domain+":9000", "%(bucket)s."+v.Domain+":9000"
				}
				cmd := exec.Command(s3cmd, "--config=/dev/null", "--access_key="+testAK, "--secret_key="+testSecret,
					"--host="+host, "--host-bucket="+hostBucket, "--no-ssl", "signurl", "s3://bucket/"+key, "+300")
				cmd.Env = append(cmd.Environ(), "HOME="+t.TempDir())
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("s3cmd signurl: %v", err)
				}
				signed := strings.TrimSpace(string(out))
				u, err := url.Parse(signed)
				if err != nil {
					t.Fatal(err)
				}
				req, err := http.NewRequest("GET", srv.URL+u.RequestURI(), nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Host = u.Host
				if got := roundTrip(t, req); got.Code != "" || got.Version != 2 || got.AccessKey != testAK {
					t.Fatalf("%s: %+v", signed, got)
				}
			})
		}
	}
}

// signV2 computes a SigV2 signature with crypto/hmac.
func signV2(sts string) string {
	m := hmac.New(sha1.New, []byte(testSecret))
	m.Write([]byte(sts))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestV2Failures(t *testing.T) {
	now := testTime
	exp := strconv.FormatInt(now.Add(time.Minute).Unix(), 10)
	good := url.QueryEscape(signV2("GET\n\n\n" + exp + "\n/bucket/key"))
	date := now.Format(http.TimeFormat)
	hdrSig := signV2("PUT\n\ntext/plain\n" + date + "\nx-amz-meta-a:1,2\n/bucket/key?acl")
	tests := []struct {
		name   string
		target string
		hdr    map[string]string
		now    time.Time
		code   string
	}{
		{name: "presign ok", target: "/bucket/key?AWSAccessKeyId=" + testAK + "&Expires=" + exp + "&Signature=" + good},
		{name: "presign raw plus", target: "/bucket/key?AWSAccessKeyId=" + testAK + "&Expires=" + exp + "&Signature=" +
			strings.ReplaceAll(strings.ReplaceAll(good, "%2B", "+"), "%2F", "/")},
		{name: "presign expired", now: now.Add(61 * time.Second), code: CodeAccessDenied,
			target: "/bucket/key?AWSAccessKeyId=" + testAK + "&Expires=" + exp + "&Signature=" + good},
		{name: "presign other key path", code: CodeSignatureDoesNotMatch,
			target: "/bucket/other?AWSAccessKeyId=" + testAK + "&Expires=" + exp + "&Signature=" + good},
		{name: "presign added subresource", code: CodeSignatureDoesNotMatch,
			target: "/bucket/key?acl&AWSAccessKeyId=" + testAK + "&Expires=" + exp + "&Signature=" + good},
		{name: "presign path signed encoded, sent raw", target: "/bucket/a+b!c?AWSAccessKeyId=" + testAK + "&Expires=" + exp + "&Signature=" +
			url.QueryEscape(signV2("GET\n\n\n"+exp+"\n/bucket/a%2Bb%21c"))},
		{name: "presign path signed raw, sent raw", target: "/bucket/a+b!c?AWSAccessKeyId=" + testAK + "&Expires=" + exp + "&Signature=" +
			url.QueryEscape(signV2("GET\n\n\n"+exp+"\n/bucket/a+b!c"))},
		{name: "presign path signed decoded", code: CodeSignatureDoesNotMatch, target: "/bucket/a%20b?AWSAccessKeyId=" + testAK + "&Expires=" + exp + "&Signature=" +
			url.QueryEscape(signV2("GET\n\n\n"+exp+"\n/bucket/a b"))},
		{name: "presign ignores other query", target: "/bucket/key?x-id=GetObject&AWSAccessKeyId=" + testAK + "&Expires=" + exp + "&Signature=" + good},
		{name: "presign unknown key", code: CodeSignatureDoesNotMatch,
			target: "/bucket/key?AWSAccessKeyId=NOPE&Expires=" + exp + "&Signature=" + good},
		{name: "presign bad expires", code: CodeAccessDenied,
			target: "/bucket/key?AWSAccessKeyId=" + testAK + "&Expires=soon&Signature=" + good},
		{name: "presign missing expires", code: CodeAccessDenied,
			target: "/bucket/key?AWSAccessKeyId=" + testAK + "&Signature=" + good},
		{name: "presign garbage signature", code: CodeSignatureDoesNotMatch,
			target: "/bucket/key?AWSAccessKeyId=" + testAK + "&Expires=" + exp + "&Signature=%21%21"},
		{name: "header ok", target: "/bucket/key?acl", hdr: map[string]string{
			"Authorization": "AWS " + testAK + ":" + hdrSig, "Date": date, "Content-Type": "text/plain", "X-Amz-Meta-A": "1,2"}},
		{name: "header changed meta", target: "/bucket/key?acl", code: CodeSignatureDoesNotMatch, hdr: map[string]string{
			"Authorization": "AWS " + testAK + ":" + hdrSig, "Date": date, "Content-Type": "text/plain", "X-Amz-Meta-A": "1,3"}},
		{name: "header skewed", target: "/bucket/key?acl", now: now.Add(20 * time.Minute), code: CodeRequestTimeTooSkewed, hdr: map[string]string{
			"Authorization": "AWS " + testAK + ":" + hdrSig, "Date": date, "Content-Type": "text/plain", "X-Amz-Meta-A": "1,2"}},
		{name: "header no date", target: "/bucket/key?acl", code: CodeAccessDenied, hdr: map[string]string{
			"Authorization": "AWS " + testAK + ":" + hdrSig}},
		{name: "header malformed", target: "/bucket/key", code: CodeInvalidArgument, hdr: map[string]string{
			"Authorization": "AWS " + testAK, "Date": date}},
		{name: "header x-amz-date", target: "/bucket/key", hdr: map[string]string{
			"Authorization": "AWS " + testAK + ":" + signV2("PUT\n\n\n\nx-amz-date:"+date+"\n/bucket/key"), "X-Amz-Date": date}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := "GET"
			if tc.hdr != nil {
				method = "PUT"
			}
			r := httptest.NewRequest(method, "http://127.0.0.1:9000"+tc.target, nil)
			for k, v := range tc.hdr {
				r.Header.Set(k, v)
			}
			at := tc.now
			if at.IsZero() {
				at = now
			}
			res, err := newTestVerifier(at).Verify(r)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if res.Version != 2 || res.AccessKeyID != testAK {
					t.Fatalf("result %+v", res)
				}
				return
			}
			wantCode(t, err, tc.code)
		})
	}
}
