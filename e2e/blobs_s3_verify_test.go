package e2e

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
)

// TestS3BlobsStoreVerifies: a node on an S3 store lets the store check
// the SHA-256 the client signed and takes the store's ETag as the MD5
// (storage.StoreVerifier). A body whose bytes are not the ones signed,
// in a single PutObject and in a part, is refused with
// XAmzContentSHA256Mismatch, and one whose Content-MD5 is not theirs with
// BadDigest, each leaving no object and no blob; a body that
// matches reads back whole with its MD5 as ETag. Bodies are over 16 KiB,
// so they go to blobs, not inline into the metadata.
func TestS3BlobsStoreVerifies(t *testing.T) {
	s, blobDir := nixStartS3Blobs(t)
	c := newRawS3(s.AccessKey, s.SecretKey)
	defer c.close()
	c.must(t, http.StatusOK, http.MethodPut, s.Endpoint, "/verify", nil)
	rng := rand.New(rand.NewPCG(7, 9))
	body := make([]byte, 3<<20+11)
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	other := bytes.Clone(body)
	other[len(other)/2] ^= 1 // the same size, one bit off the signed bytes
	sum := sha256.Sum256(body)
	signed := hex.EncodeToString(sum[:])

	r, err := c.stream(t.Context(), http.MethodPut, s.Endpoint, "/verify/bad", bytes.NewReader(other), int64(len(other)), signed)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "XAmzContentSHA256Mismatch") {
		t.Errorf("PUT of bytes other than the signed ones: %s, want 400 XAmzContentSHA256Mismatch", r)
	}
	c.must(t, http.StatusNotFound, http.MethodHead, s.Endpoint, "/verify/bad", nil)

	up := c.must(t, http.StatusOK, http.MethodPost, s.Endpoint, "/verify/multi?uploads", nil)
	id := between(string(up.Body), "<UploadId>", "</UploadId>")
	r, err = c.stream(t.Context(), http.MethodPut, s.Endpoint, "/verify/multi?partNumber=1&uploadId="+id, bytes.NewReader(other), int64(len(other)), signed)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "XAmzContentSHA256Mismatch") {
		t.Errorf("part of bytes other than the signed ones: %s, want 400 XAmzContentSHA256Mismatch", r)
	}
	c.must(t, http.StatusNoContent, http.MethodDelete, s.Endpoint, "/verify/multi?uploadId="+id, nil)
	// The signed bytes, but a Content-MD5 of others: the MD5 the store
	// gives is checked against it, and the blob it stored is deleted.
	wrongMD5 := md5.Sum(other)
	r = c.must(t, http.StatusBadRequest, http.MethodPut, s.Endpoint, "/verify/md5", body,
		"Content-MD5", base64.StdEncoding.EncodeToString(wrongMD5[:]))
	if !strings.Contains(string(r.Body), "BadDigest") {
		t.Errorf("PUT with a wrong Content-MD5: %s, want BadDigest", r)
	}
	c.must(t, http.StatusNotFound, http.MethodHead, s.Endpoint, "/verify/md5", nil)
	if n := countFiles(blobDir); n != 0 {
		t.Errorf("%d blobs in the store after refused writes, want 0", n)
	}

	r = c.must(t, http.StatusOK, http.MethodPut, s.Endpoint, "/verify/good", body)
	if want := md5.Sum(body); r.etag() != hex.EncodeToString(want[:]) {
		t.Errorf("ETag of a PUT: %s, want the MD5 %x", r.etag(), want)
	}
	got := c.must(t, http.StatusOK, http.MethodGet, s.Endpoint, "/verify/good", nil)
	if !bytes.Equal(got.Body, body) {
		t.Errorf("GET after PUT: %d bytes that differ from the %d sent", len(got.Body), len(body))
	}
	if n := countFiles(blobDir); n != 1 {
		t.Errorf("%d blobs in the store after one PUT, want 1", n)
	}
}

// between returns the text of s between the first open and the next close.
func between(s, open, close string) string {
	_, rest, _ := strings.Cut(s, open)
	v, _, _ := strings.Cut(rest, close)
	return v
}
