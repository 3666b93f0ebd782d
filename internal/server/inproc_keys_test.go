package server_test

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
)

// oddKeys are keys that have broken S3 servers: unicode, characters with
// a meaning in URLs, doubled slashes and dot segments.
var oddKeys = []string{
	"héllo wörld/日本語.txt",
	"with space",
	"a+b",
	"100%",
	"%2F",
	"a//b",
	"//leading",
	"trailing/",
	"../../escape",
	"a/../b",
	"./x",
	"a/./b",
	"..",
	"?query=1&x",
	"#fragment",
	"semi;colon,comma=eq",
	"quote'\"<tag>&amp",
	"emoji-🦀",
	"tab\tkey",
	"~tilde!*()",
	strings.Repeat("k", 1024),
	strings.Repeat("é", 512), // 1024 bytes
}

func TestOddKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("keys")
	c := ctx(t)
	for i, key := range oddKeys {
		name := key
		if len(name) > 40 {
			name = name[:20] + "…"
		}
		t.Run(name, func(t *testing.T) {
			body := []byte("body of " + key)
			e.put(b, key, body)
			if got := e.get(b, key); !bytes.Equal(got, body) {
				t.Fatalf("GetObject = %q", got)
			}
			// It lists under its own name, once.
			lo, err := e.s3.ListObjectsV2(c, &s3.ListObjectsV2Input{Bucket: &b, Prefix: aws.String(key)})
			if err != nil {
				t.Fatalf("ListObjectsV2 prefix=key: %v", err)
			}
			if len(lo.Contents) != 1 || aws.ToString(lo.Contents[0].Key) != key {
				var ks []string
				for _, o := range lo.Contents {
					ks = append(ks, aws.ToString(o.Key))
				}
				t.Errorf("listing with prefix=key gives %q", ks)
			}
			// minio-go reads the same bytes.
			o, err := e.mc.GetObject(c, b, key, minio.GetObjectOptions{})
			if err != nil {
				t.Fatalf("minio GetObject: %v", err)
			}
			got, err := io.ReadAll(o)
			o.Close()
			if err != nil || !bytes.Equal(got, body) {
				t.Errorf("minio GetObject = %q, %v", got, err)
			}
			// CopyObject from it, with the copy source escaped.
			dst := "copy-" + strconv.Itoa(i)
			_, err = e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: &b, Key: aws.String(dst), CopySource: aws.String(b + "/" + url.PathEscape(key))})
			if err != nil {
				t.Fatalf("CopyObject from %q: %v", key, err)
			}
			if got := e.get(b, dst); !bytes.Equal(got, body) {
				t.Errorf("copy = %q", got)
			}
			if _, err := e.s3.DeleteObject(c, &s3.DeleteObjectInput{Bucket: &b, Key: aws.String(key)}); err != nil {
				t.Fatalf("DeleteObject: %v", err)
			}
			e.absent(b, key)
		})
	}
	// Nothing was written beside the data directory.
	entries, err := os.ReadDir(filepath.Dir(e.data))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "data" {
		var names []string
		for _, d := range entries {
			names = append(names, d.Name())
		}
		t.Errorf("beside the data dir: %q", names)
	}
}

func TestKeyLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("keylen")
	c := ctx(t)
	for _, key := range []string{strings.Repeat("k", 1025), strings.Repeat("é", 512) + "x"} {
		_, err := e.s3.PutObject(c, &s3.PutObjectInput{Bucket: &b, Key: aws.String(key), Body: strings.NewReader("x")})
		wantCode(t, err, "KeyTooLongError", http.StatusBadRequest)
		_, err = e.s3.CreateMultipartUpload(c, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String(key)})
		wantCode(t, err, "KeyTooLongError", http.StatusBadRequest)
	}
	// NUL is valid UTF-8 but no key (meta.CheckKey): refused on writes
	// and reads alike, before the store sees it.
	nul := "a\x00b"
	_, err := e.s3.PutObject(c, &s3.PutObjectInput{Bucket: &b, Key: &nul, Body: strings.NewReader("x")})
	wantCode(t, err, "InvalidArgument", http.StatusBadRequest)
	_, err = e.s3.CreateMultipartUpload(c, &s3.CreateMultipartUploadInput{Bucket: &b, Key: &nul})
	wantCode(t, err, "InvalidArgument", http.StatusBadRequest)
	e.put(b, "a", []byte("x"))
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		r := e.request(method, e.url(b, "")+"/a%00", nil)
		e.signBody(r, nil)
		if st, _, body := e.do(r); st != http.StatusBadRequest {
			t.Errorf("%s of a key with NUL: %d %s, want 400", method, st, body)
		}
	}
	// Invalid UTF-8 cannot be a key.
	r := e.request(http.MethodPut, e.url(b, "")+"/bad%FFutf8", []byte("x"))
	e.signBody(r, []byte("x"))
	st, _, body := e.do(r)
	if st != http.StatusBadRequest {
		t.Errorf("PUT invalid UTF-8 key: %d %s, want 400", st, body)
	}
}

func TestCopyObject(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("copy")
	b2 := e.bucket("copy-dst")
	c := ctx(t)
	body := data(2, 3000)
	srcETag := e.put(b, "src", body, func(in *s3.PutObjectInput) {
		in.ContentType = aws.String("application/x-nix-nar")
		in.Metadata = map[string]string{"origin": "src"}
	})

	// COPY (the default): body and headers come from the source.
	out, err := e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: &b2, Key: aws.String("dst"), CopySource: aws.String(b + "/src")})
	if err != nil {
		t.Fatalf("CopyObject: %v", err)
	}
	if out.CopyObjectResult == nil || aws.ToString(out.CopyObjectResult.ETag) != srcETag || out.CopyObjectResult.LastModified == nil {
		t.Errorf("CopyObjectResult %+v, want ETag %s", out.CopyObjectResult, srcETag)
	}
	h, err := e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: &b2, Key: aws.String("dst")})
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	if aws.ToString(h.ContentType) != "application/x-nix-nar" || h.Metadata["origin"] != "src" {
		t.Errorf("COPY directive: type %q meta %v", aws.ToString(h.ContentType), h.Metadata)
	}
	if !bytes.Equal(e.get(b2, "dst"), body) {
		t.Errorf("copied body differs")
	}

	// REPLACE: headers come from the request.
	_, err = e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: &b, Key: aws.String("dst2"), CopySource: aws.String("/" + b + "/src"),
		MetadataDirective: "REPLACE", ContentType: aws.String("text/plain"), Metadata: map[string]string{"new": "yes"}})
	if err != nil {
		t.Fatalf("CopyObject REPLACE: %v", err)
	}
	h, err = e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("dst2")})
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	if aws.ToString(h.ContentType) != "text/plain" || h.Metadata["new"] != "yes" || h.Metadata["origin"] != "" {
		t.Errorf("REPLACE directive: type %q meta %v", aws.ToString(h.ContentType), h.Metadata)
	}

	// Onto itself: only with REPLACE.
	_, err = e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: &b, Key: aws.String("src"), CopySource: aws.String(b + "/src")})
	wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
	_, err = e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: &b, Key: aws.String("src"), CopySource: aws.String(b + "/src"),
		MetadataDirective: "REPLACE", Metadata: map[string]string{"origin": "self"}})
	if err != nil {
		t.Fatalf("self copy with REPLACE: %v", err)
	}
	h, err = e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("src")})
	if err != nil || h.Metadata["origin"] != "self" || !bytes.Equal(e.get(b, "src"), body) {
		t.Errorf("after self copy: meta %v err %v", h.Metadata, err)
	}

	// Source conditions and missing sources.
	_, err = e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: &b, Key: aws.String("x"), CopySource: aws.String(b + "/src"), CopySourceIfMatch: aws.String(`"nope"`)})
	wantCode(t, err, "PreconditionFailed", http.StatusPreconditionFailed)
	_, err = e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: &b, Key: aws.String("x"), CopySource: aws.String(b + "/src"), CopySourceIfNoneMatch: aws.String(srcETag)})
	wantCode(t, err, "PreconditionFailed", http.StatusPreconditionFailed)
	e.absent(b, "x")
	_, err = e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: &b, Key: aws.String("x"), CopySource: aws.String(b + "/nope")})
	wantCode(t, err, "NoSuchKey", http.StatusNotFound)
	_, err = e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: &b, Key: aws.String("x"), CopySource: aws.String("no-such-bucket/src")})
	wantCode(t, err, "NoSuchBucket", http.StatusNotFound)
	_, err = e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: aws.String("no-such-bucket"), Key: aws.String("x"), CopySource: aws.String(b + "/src")})
	wantCode(t, err, "NoSuchBucket", http.StatusNotFound)
	_, err = e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: &b, Key: aws.String("x"), CopySource: aws.String(b + "/src"), MetadataDirective: "BOGUS"})
	wantCode(t, err, "InvalidArgument", http.StatusBadRequest)

	// minio-go's CopyObject.
	_, err = e.mc.CopyObject(c, minio.CopyDestOptions{Bucket: b, Object: "mc-dst"}, minio.CopySrcOptions{Bucket: b, Object: "src"})
	if err != nil {
		t.Fatalf("minio CopyObject: %v", err)
	}
	if !bytes.Equal(e.get(b, "mc-dst"), body) {
		t.Errorf("minio copy differs")
	}
}
