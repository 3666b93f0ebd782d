package e2e

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestNixS3NewNix replays, with curl --aws-sigv4, the requests of
// `nix copy --to 's3://nix-cache?endpoint=…&multipart-upload=true&storage-class=STANDARD_IA'`
// in Nix ≥2.33 (S3BinaryCacheStore over libcurl; NixOS/nix
// src/libstore/s3-binary-cache-store.cc, filetransfer.cc, s3-url.cc), once
// with path-style addressing (the default with an endpoint) and once with
// addressing-style=virtual (BUCKET.ENDPOINT-HOST), for one store path each:
// nix-cache-info with the Accept-Encoding 2.33.0 signs, the narinfo and NAR
// misses (GET and HEAD), the NAR in a multipart upload, the narinfo, and a
// CA realisation, whose key keeps ':' unescaped and is signed as sent. Then
// an aborted multipart upload, and Nix 2.8 substitutes the closure over
// plain HTTP with the server's signatures required.
func TestNixS3NewNix(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	s := startServerDir(t, t.TempDir(), "--domain", "s3.localhost")
	u, err := url.Parse(s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	bases := []string{ // curl resolves *.localhost to loopback itself
		s.Endpoint + "/" + nixCacheBucket,
		fmt.Sprintf("http://%s.s3.localhost:%s", nixCacheBucket, u.Port()),
	}
	c := nixBuildClosure(t, len(bases), 2048, "newnix") // NARs of about 5.9 MB: two parts
	dir := nixFileCache(t, "compression=none", c.Top)
	serverKey := nixServerKey(t, s, nixCacheBucket)
	acceptEncoding := "Accept-Encoding: zstd, br, gzip, deflate, bzip2, xz"
	storageClass := "x-amz-storage-class: STANDARD_IA"

	for i, p := range c.Paths { // references first
		base, h := bases[i], nixHashPart(p)
		ni := nixReadNarinfo(t, filepath.Join(dir, h+".narinfo"))
		r := curlS3(t, s, http.MethodGet, base+"/nix-cache-info", "-H", acceptEncoding)
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "StoreDir: /nix/store") || r.Header.Get("Content-Encoding") != "" {
			t.Fatalf("GET %s/nix-cache-info: %d %v\n%s", base, r.Status, r.Header, r.Body)
		}
		r = curlS3(t, s, http.MethodGet, base+"/"+h+".narinfo", "-H", acceptEncoding)
		wantS3Error(t, "GET a narinfo not yet pushed", r.Status, r.Body, http.StatusNotFound, "NoSuchKey")
		if r = curlS3(t, s, http.MethodHead, base+"/"+ni.URL); r.Status != http.StatusNotFound {
			t.Errorf("HEAD %s before its upload: %d, want 404", ni.URL, r.Status)
		}
		nixMultipartNAR(t, s, base, ni.URL, filepath.Join(dir, ni.URL), "-H", storageClass)
		if r = curlS3(t, s, http.MethodHead, base+"/"+ni.URL); r.Status != http.StatusOK || r.Header.Get("Content-Encoding") != "" {
			t.Errorf("HEAD %s: %d Content-Encoding %q, want 200 and none", ni.URL, r.Status, r.Header.Get("Content-Encoding"))
		}
		file := filepath.Join(dir, h+".narinfo")
		r = curlS3(t, s, http.MethodPut, base+"/"+h+".narinfo", "-T", file, "-H", "Content-Type: text/x-nix-narinfo",
			"-H", "Content-MD5: "+contentMD5(t, file), "-H", storageClass)
		if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("ETag"), `"`) {
			t.Fatalf("PUT %s.narinfo: %d ETag %q\n%s", h, r.Status, r.Header.Get("ETag"), r.Body)
		}
		got := filepath.Join(t.TempDir(), "narinfo")
		r = curlS3(t, s, http.MethodGet, base+"/"+h+".narinfo", "-o", got, "-H", acceptEncoding)
		if want := `"` + fileMD5(t, got) + `"`; r.Status != http.StatusOK || r.Header.Get("ETag") != want {
			t.Errorf("GET %s.narinfo: %d ETag %s, want 200 %s", h, r.Status, r.Header.Get("ETag"), want)
		}
		if !nixReadNarinfo(t, got).Verify(nixPublicKey(t, serverKey)) {
			t.Errorf("narinfo of %s: no valid signature by %s", p, serverKey)
		}

		// Nix renders "realisations/sha256:H!out.doi" as below: ':' kept,
		// '!' escaped; libcurl signs that path as sent.
		doi := fmt.Sprintf(`{"dependentRealisations":{},"id":"sha256:%s!out","outPath":"%s","signatures":[]}`,
			strings.Repeat("1", 52), filepath.Base(p))
		key := "realisations/sha256:" + strings.Repeat("1", 52) + "%21out.doi"
		file = nixWriteFile(t, "out.doi", []byte(doi))
		if r = curlS3(t, s, http.MethodPut, base+"/"+key, "-T", file, "-H", "Content-Type: application/json",
			"-H", "Content-MD5: "+contentMD5(t, file)); r.Status != http.StatusOK {
			t.Errorf("PUT %s: %d\n%s", key, r.Status, r.Body)
		}
		if r = curlS3(t, s, http.MethodGet, base+"/"+key); r.Status != http.StatusOK || r.Body != doi {
			t.Errorf("GET %s: %d %q, want 200 %q", key, r.Status, r.Body, doi)
		}
	}

	// A failed upload ends with AbortMultipartUpload (a DELETE).
	base := bases[1]
	r := curlS3(t, s, http.MethodPost, base+"/nar/aborted.nar?uploads=", "--data-binary", "",
		"-H", "Content-Type: application/x-nix-nar", "-H", storageClass)
	var created struct{ UploadId string }
	if err := xml.Unmarshal([]byte(r.Body), &created); r.Status != http.StatusOK || err != nil || created.UploadId == "" {
		t.Fatalf("CreateMultipartUpload: %d %v\n%s", r.Status, err, r.Body)
	}
	if r = curlS3(t, s, http.MethodDelete, base+"/nar/aborted.nar?uploadId="+created.UploadId); r.Status != http.StatusNoContent {
		t.Errorf("AbortMultipartUpload: %d, want 204\n%s", r.Status, r.Body)
	}
	r = curlS3(t, s, http.MethodDelete, base+"/nar/aborted.nar?uploadId="+created.UploadId)
	wantS3Error(t, "AbortMultipartUpload again", r.Status, r.Body, http.StatusNotFound, "NoSuchUpload")

	c.delete(t)
	nixMustSubstitute(t, nixCacheURL(s, nixCacheBucket), serverKey, nixNetrc(s), c.Top)
	c.checkDumps(t)
}
