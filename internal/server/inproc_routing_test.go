package server_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
	mcreds "github.com/minio/minio-go/v7/pkg/credentials"
)

// rootElement returns the name of an XML document's root element.
func rootElement(t *testing.T, body []byte) string {
	t.Helper()
	var doc struct{ XMLName xml.Name }
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Errorf("not XML: %v: %.200s", err, body)
	}
	return doc.XMLName.Local
}

func TestQueryRouting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("route")
	e.put(b, "k", []byte("value"))

	// The SDK itself adds x-id to its requests.
	mark := e.rec.mark()
	e.get(b, "k")
	if x := e.rec.since(mark); len(x) != 1 || !strings.Contains(x[0].Query, "x-id=GetObject") {
		t.Errorf("the SDK's GetObject carried no x-id: %+v", x)
	}

	for _, tc := range []struct {
		method, query string
		body          string
		key           string
		status        int
		root          string // expected root element; "" for no XML
	}{
		{http.MethodGet, "x-id=GetObject", "", "k", 200, ""},
		{http.MethodGet, "x-id=GetObject&unknown-key=1&another", "", "k", 200, ""},
		{http.MethodPut, "x-id=PutObject", "new", "k2", 200, ""},
		{http.MethodGet, "location", "", "", 200, "LocationConstraint"},
		{http.MethodGet, "location=", "", "", 200, "LocationConstraint"},
		{http.MethodGet, "location&x-id=GetBucketLocation", "", "", 200, "LocationConstraint"},
		{http.MethodGet, "list-type=2&x-id=ListObjectsV2&foo=bar", "", "", 200, "ListBucketResult"},
		{http.MethodGet, "uploads", "", "", 200, "ListMultipartUploadsResult"},
		{http.MethodGet, "uploads=", "", "", 200, "ListMultipartUploadsResult"},
		{http.MethodGet, "versioning", "", "", 200, "VersioningConfiguration"},
		{http.MethodPost, "uploads&x-id=CreateMultipartUpload", "", "mp", 200, "InitiateMultipartUploadResult"},
		{http.MethodPost, "delete", "<Delete><Object><Key>k2</Key></Object></Delete>", "", 200, "DeleteResult"},
		{http.MethodPost, "delete=&x-id=DeleteObjects", "<Delete><Quiet>true</Quiet><Object><Key>zz</Key></Object></Delete>", "", 200, "DeleteResult"},
		{http.MethodPost, "", "", "k", 405, "Error"},
		{"PATCH", "", "", "k", 405, "Error"},
	} {
		t.Run(tc.method+" ?"+tc.query, func(t *testing.T) {
			var body []byte
			if tc.body != "" || tc.method == http.MethodPut {
				body = []byte(tc.body)
			}
			u := e.url(b, tc.key)
			if tc.query != "" {
				u += "?" + tc.query
			}
			r := e.request(tc.method, u, body)
			if tc.method == http.MethodPost && tc.body != "" {
				r.Header.Set("Content-MD5", md5b64(body))
			}
			e.signBody(r, body)
			st, _, out := e.do(r)
			if st != tc.status {
				t.Fatalf("%d %.300s, want %d", st, out, tc.status)
			}
			if tc.root != "" {
				if got := rootElement(t, out); got != tc.root {
					t.Errorf("answer is <%s>, want <%s>: %.300s", got, tc.root, out)
				}
			} else if tc.method == http.MethodGet && string(out) != "value" {
				t.Errorf("GET body %q", out)
			}
		})
	}
	e.absent(b, "k2")
}

// TestVirtualHost runs a server with a domain and reaches buckets by
// BUCKET.DOMAIN, with hand-built requests, aws-sdk-go-v2 and minio-go.
func TestVirtualHost(t *testing.T) {
	t.Parallel()
	const domain = "s3.test"
	e := newEnv(t, withDomain(domain))
	b := e.bucket("vhost")
	e.put(b, "dir/k", []byte("by path"))
	port := e.host()[strings.LastIndexByte(e.host(), ':'):]
	c := ctx(t)

	// Hand-built: the Host header names the bucket.
	r := e.request(http.MethodGet, e.ts.URL+"/dir/k", nil)
	r.Host = b + "." + domain + port
	e.signBody(r, nil)
	if st, _, out := e.do(r); st != http.StatusOK || string(out) != "by path" {
		t.Fatalf("GET with Host %s: %d %s", r.Host, st, out)
	}
	// A Host without a bucket label is path-style.
	r = e.request(http.MethodGet, e.ts.URL+"/"+b+"/dir/k", nil)
	r.Host = domain + port
	e.signBody(r, nil)
	if st, _, out := e.do(r); st != http.StatusOK || string(out) != "by path" {
		t.Errorf("path-style GET with Host %s: %d %s", r.Host, st, out)
	}

	// aws-sdk-go-v2 in virtual-host mode, every host dialled to the server.
	hc := &http.Client{Transport: &http.Transport{DialContext: dialTo(e.host())}}
	vc := s3.New(s3.Options{
		Region: region, BaseEndpoint: aws.String("http://" + domain + port), UsePathStyle: false,
		Credentials: e.newS3(e.id, e.secret).Options().Credentials, HTTPClient: hc, Retryer: aws.NopRetryer{},
	})
	mark := e.rec.mark()
	if _, err := vc.PutObject(c, &s3.PutObjectInput{Bucket: &b, Key: aws.String("sdk/k"), Body: strings.NewReader("by host")}); err != nil {
		t.Fatalf("virtual-host PutObject: %v", err)
	}
	for _, x := range e.rec.since(mark) {
		if strings.HasPrefix(x.Path, "/"+b) {
			t.Errorf("the SDK used path-style (%s)", x.Path)
		}
	}
	if got := e.get(b, "sdk/k"); string(got) != "by host" {
		t.Errorf("path-style read of the virtual-host write: %q", got)
	}
	// A key starting with "-/" is the bucket's, not the server's /-/
	// endpoints (the console, metrics): on the virtual host its path is
	// /-/…, which path-style never is (no bucket name starts with "-").
	for _, key := range []string{"-/ui/", "-/health", "-/metrics"} {
		if _, err := vc.PutObject(c, &s3.PutObjectInput{Bucket: &b, Key: aws.String(key), Body: strings.NewReader("object " + key)}); err != nil {
			t.Fatalf("virtual-host PutObject %s: %v", key, err)
		}
		out, err := vc.GetObject(c, &s3.GetObjectInput{Bucket: &b, Key: aws.String(key)})
		if err != nil {
			t.Fatalf("virtual-host GetObject %s: %v", key, err)
		}
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(got) != "object "+key {
			t.Errorf("virtual-host GetObject %s: %q", key, got)
		}
		if got := e.get(b, key); string(got) != "object "+key {
			t.Errorf("path-style read of %s: %q", key, got)
		}
	}
	lo, err := vc.ListObjectsV2(c, &s3.ListObjectsV2Input{Bucket: &b, Prefix: aws.String("dir/")})
	if err != nil || len(lo.Contents) != 1 || aws.ToString(lo.Contents[0].Key) != "dir/k" {
		t.Errorf("virtual-host ListObjectsV2: %+v, %v", lo, err)
	}
	if _, err := vc.HeadBucket(c, &s3.HeadBucketInput{Bucket: &b}); err != nil {
		t.Errorf("virtual-host HeadBucket: %v", err)
	}
	loc, err := vc.GetBucketLocation(c, &s3.GetBucketLocationInput{Bucket: &b})
	if err != nil || loc.LocationConstraint != "" {
		t.Errorf("virtual-host GetBucketLocation: %+v, %v", loc, err)
	}
	_, err = vc.DeleteObjects(c, &s3.DeleteObjectsInput{Bucket: &b, Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("sdk/k")}}}})
	if err != nil {
		t.Errorf("virtual-host DeleteObjects: %v", err)
	}
	e.absent(b, "sdk/k")
	_, err = vc.GetObject(c, &s3.GetObjectInput{Bucket: aws.String("no-such-bucket"), Key: aws.String("k")})
	wantCode(t, err, "NoSuchBucket", http.StatusNotFound)

	// minio-go with DNS-style bucket lookup, streaming signatures.
	mc2, err := minio.New(domain+port, &minio.Options{Creds: mcreds.NewStaticV4(e.id, e.secret, ""), Region: region, BucketLookup: minio.BucketLookupDNS,
		Transport: &http.Transport{DialContext: dialTo(e.host())}, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	body := data(90, 100_000)
	if _, err := mc2.PutObject(c, b, "minio/k", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("minio-go virtual-host PutObject: %v", err)
	}
	if got := e.get(b, "minio/k"); !bytes.Equal(got, body) {
		t.Errorf("minio-go virtual-host object differs")
	}

	// SigV2 presigned URL on the virtual host: the resource is /BUCKET/KEY.
	u := e.presignV2("GET", "", b, "dir/k", time.Now().Add(5*time.Minute), "")
	r = e.request(http.MethodGet, strings.Replace(u, "/"+b+"/", "/", 1), nil)
	r.Host = b + "." + domain + port
	if st, _, out := e.do(r); st != http.StatusOK || string(out) != "by path" {
		t.Errorf("SigV2 presigned GET on the virtual host: %d %s", st, out)
	}
}

// TestGetBodyStreams checks a plain GET through minio-go, which reads the
// whole object and then ranges within it.
func TestGetBodyStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("stream")
	body := data(95, 3*mib+17)
	e.put(b, "k", body)
	o, err := e.mc.GetObject(ctx(t), b, "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	buf := make([]byte, 1000)
	if _, err := o.ReadAt(buf, 2*mib); err != nil || !bytes.Equal(buf, body[2*mib:2*mib+1000]) {
		t.Errorf("minio ReadAt: %v", err)
	}
	if _, err := o.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(o)
	if err != nil || !bytes.Equal(all, body) {
		t.Errorf("minio full read: %d bytes, %v", len(all), err)
	}
}
