package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/server"
)

// signedOps are the operations FuzzSignedHandler aims at: every S3 request
// body nixbucket parses (XML, policy JSON, narinfos) and the headers of
// writes, copies and reads. {upload} is a multipart upload in progress
// with two parts, {nar} the NAR the seed narinfo points to.
var signedOps = []struct{ method, target string }{
	{"POST", "/bkt/mp?uploadId={upload}"},             // CompleteMultipartUpload
	{"POST", "/bkt?delete"},                           // DeleteObjects
	{"PUT", "/bkt/obj?tagging"},                       // PutObjectTagging
	{"PUT", "/bkt2"},                                  // CreateBucket (CreateBucketConfiguration)
	{"PUT", "/bkt?acl"},                               // PutBucketAcl
	{"PUT", "/bkt/obj?acl"},                           // PutObjectAcl
	{"PUT", "/bkt?versioning"},                        // PutBucketVersioning
	{"PUT", "/bkt?lifecycle"},                         // PutBucketLifecycleConfiguration
	{"PUT", "/bkt?policy"},                            // PutBucketPolicy
	{"PUT", "/nix-cache/" + fuzzHash + ".narinfo"},    // a narinfo, checked and signed
	{"PUT", "/bkt/put"},                               // PutObject: checksums, tagging, metadata headers
	{"GET", "/bkt/obj"},                               // GetObject: Range, conditionals, overrides
	{"PUT", "/bkt/copy"},                              // CopyObject (x-amz-copy-source…)
	{"PUT", "/bkt/mp?partNumber=3&uploadId={upload}"}, // UploadPart(Copy)
	{"GET", "/bkt"},                                   // ListObjects: the query
	{"POST", "/bkt/mp2?uploads"},                      // CreateMultipartUpload headers
	{"GET", "/bkt/obj?attributes"},                    // GetObjectAttributes
	{"HEAD", "/nix-cache/{nar}"},                      // the NAR: Range, partNumber
	{"PUT", "/bkt?cors"},                              // PutBucketCors
	{"OPTIONS", "/bkt/obj"},                           // the CORS preflight, after a configuration
}

const fuzzHash = "0123456789abcdfghijklmnpqrsvwxyz"

// FuzzSignedHandler sends requests signed with the admin key, so that
// every operation is allowed and its body and headers are really parsed,
// to the real handler: an operation from signedOps, more query, up to
// three headers ("Name: value" lines) and a body. It must never panic or
// answer with a server error (501 NotImplemented aside).
func FuzzSignedHandler(f *testing.F) {
	nar := bytes.Repeat([]byte("nar bytes "), 100)
	sum := nixhash.SHA256(sha256.Sum256(nar))
	narKey := "nar/" + sum.Nix32() + ".nar"
	ni := narinfo.NarInfo{
		StorePath: "/nix/store/" + fuzzHash + "-fuzz", URL: narKey, Compression: "none",
		FileHash: sum.String(), FileSize: uint64(len(nar)), NarHash: sum.String(), NarSize: uint64(len(nar)),
	}
	seeds := []struct {
		op         uint8
		query, hdr string
		body       string
	}{
		{0, "", "", `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"` + md5hex(bytes.Repeat([]byte("p"), 5<<20)) +
			`"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>` + md5hex([]byte("part two")) + `</ETag></Part></CompleteMultipartUpload>`},
		{0, "", "x-amz-checksum-crc32: AAAAAA==", `<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ChecksumCRC32>x</ChecksumCRC32></Part><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>`},
		{1, "", "Content-MD5: x", `<Delete><Quiet>true</Quiet><Object><Key>obj</Key></Object><Object><Key>a</Key><VersionId>null</VersionId></Object></Delete>`},
		{2, "", "", `<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>`},
		{3, "", "x-amz-acl: private", `<CreateBucketConfiguration><LocationConstraint>eu-west-2</LocationConstraint></CreateBucketConfiguration>`},
		{4, "", "x-amz-grant-read: uri=x", `<AccessControlPolicy><Owner><ID>x</ID></Owner><AccessControlList/></AccessControlPolicy>`},
		{6, "", "", `<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>`},
		{7, "", "", `<LifecycleConfiguration><Rule><Status>Enabled</Status><Filter/><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>`},
		{8, "", "", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}]}`},
		{9, "", "Content-Type: text/x-nix-narinfo", ni.String()},
		{9, "", "Content-Encoding: zstd", "\x28\xb5\x2f\xfd\x00\xa8\x29\x00\x00hello"},
		{10, "", "x-amz-checksum-crc32: AAAAAA==\nx-amz-tagging: a=b&c=d\nx-amz-meta-x: y", "body"},
		{10, "", "Content-MD5: 1B2M2Y8AsgTpgAmY7PhCfg==\nIf-None-Match: *", ""},
		{11, "partNumber=1", "Range: bytes=1-2", ""},
		{11, "response-content-type=a%2Fb", "If-Match: \"x\", *\nIf-Modified-Since: Sat, 03 Jan 2026 03:04:05 GMT", ""},
		{12, "", "x-amz-copy-source: /bkt/obj?versionId=null\nx-amz-metadata-directive: REPLACE\nx-amz-copy-source-if-match: *", ""},
		{13, "", "x-amz-copy-source: bkt/obj\nx-amz-copy-source-range: bytes=0-1", ""},
		{14, "list-type=2&prefix=o&delimiter=/&max-keys=1&continuation-token=AAAA&encoding-type=url", "", ""},
		{14, "marker=a&max-keys=0", "", ""},
		{15, "", "x-amz-checksum-algorithm: CRC32\nx-amz-checksum-type: FULL_OBJECT", ""},
		{16, "", "x-amz-object-attributes: ETag,Checksum,ObjectParts,StorageClass,ObjectSize\nx-amz-max-parts: 1", ""},
		{17, "", "Range: bytes=-3", ""},
		{18, "", "", `<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>https://*.example</AllowedOrigin><AllowedHeader>x-*</AllowedHeader><MaxAgeSeconds>9</MaxAgeSeconds></CORSRule></CORSConfiguration>`},
		{19, "", "Origin: https://a.example\nAccess-Control-Request-Method: GET\nAccess-Control-Request-Headers: x-a, y", ""},
	}
	for _, s := range seeds {
		f.Add(s.op, s.query, s.hdr, []byte(s.body))
	}

	srv, err := server.Open(context.Background(), server.Options{Data: f.TempDir(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	fx := &fuzzFixture{h: srv.Handler(), creds: aws.Credentials{AccessKeyID: srv.Root.ID, SecretAccessKey: srv.Root.Secret}}
	fx.must(f, "PUT", "/bkt", nil, nil)
	fx.must(f, "PUT", "/nix-cache/"+narKey, nil, nar)
	fx.upload = fx.newUpload(f)

	f.Fuzz(func(t *testing.T, op uint8, query, hdr string, body []byte) {
		s := signedOps[int(op)%len(signedOps)]
		if fx.do(t, "HEAD", "/bkt/obj", nil, nil).Code != http.StatusOK {
			fx.must(t, "PUT", "/bkt/obj", nil, bytes.Repeat([]byte("0123456789"), 10))
		}
		target := strings.NewReplacer("{upload}", fx.upload, "{nar}", narKey).Replace(s.target)
		if query != "" {
			if strings.ContainsAny(query, " #\r\n\x00") {
				return
			}
			if strings.Contains(target, "?") {
				target += "&" + query
			} else {
				target += "?" + query
			}
		}
		h := http.Header{}
		for i, line := range strings.SplitN(hdr, "\n", 4) {
			k, v, ok := strings.Cut(line, ": ")
			if i == 3 || !ok || !validName(k) || strings.ContainsAny(v, "\r\n\x00") || reservedName(k) {
				continue
			}
			h.Add(k, v)
		}
		w := fx.do(t, s.method, target, h, body)
		if w == nil {
			return
		}
		if w.Code >= 500 && w.Code != http.StatusNotImplemented {
			t.Fatalf("%s %s (%q, %d body bytes): %d %s", s.method, target, hdr, len(body), w.Code, w.Body.String())
		}
		if s.target == signedOps[0].target && w.Code == http.StatusOK && strings.Contains(w.Body.String(), "<CompleteMultipartUploadResult") {
			fx.upload = fx.newUpload(t) // that one is complete now
		}
	})
}

// fuzzFixture sends signed requests to a handler.
type fuzzFixture struct {
	h      http.Handler
	creds  aws.Credentials
	upload string // an upload of /bkt/mp with parts 1 and 2
}

// do signs and sends one request; nil when it cannot be made.
func (fx *fuzzFixture) do(t testing.TB, method, target string, h http.Header, body []byte) *httptest.ResponseRecorder {
	r, err := http.NewRequest(method, "http://127.0.0.1:9000"+target, bytes.NewReader(body))
	if err != nil {
		return nil
	}
	r.RequestURI = target
	for k, vs := range h {
		r.Header[k] = vs
	}
	r.Header.Set("User-Agent", "aws-sdk-go-v2 (nixbucket fuzz)")
	r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	if err := newSigner().SignHTTP(context.Background(), fx.creds, r, "UNSIGNED-PAYLOAD", "s3", region, time.Now()); err != nil {
		return nil
	}
	w := httptest.NewRecorder()
	fx.h.ServeHTTP(w, r)
	return w
}

// must sends a request that has to succeed.
func (fx *fuzzFixture) must(t testing.TB, method, target string, h http.Header, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	w := fx.do(t, method, target, h, body)
	if w == nil || w.Code/100 != 2 {
		t.Fatalf("%s %s: %v", method, target, w)
	}
	return w
}

// newUpload starts an upload of /bkt/mp with two parts (the first 5 MiB,
// so the pair may complete) and returns its id.
func (fx *fuzzFixture) newUpload(t testing.TB) string {
	t.Helper()
	var res struct{ UploadId string }
	if err := xml.Unmarshal(fx.must(t, "POST", "/bkt/mp?uploads", nil, nil).Body.Bytes(), &res); err != nil || res.UploadId == "" {
		t.Fatalf("CreateMultipartUpload: %q, %v", res.UploadId, err)
	}
	fx.must(t, "PUT", "/bkt/mp?partNumber=1&uploadId="+res.UploadId, nil, bytes.Repeat([]byte("p"), 5<<20))
	fx.must(t, "PUT", "/bkt/mp?partNumber=2&uploadId="+res.UploadId, nil, []byte("part two"))
	return res.UploadId
}

// validName reports whether s is an HTTP token, a header name.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// reservedName reports the headers the signature and net/http own.
func reservedName(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Authorization", "Host", "X-Amz-Date", "X-Amz-Content-Sha256", "Content-Length", "Transfer-Encoding", "X-Amz-Security-Token":
		return true
	}
	return false
}
