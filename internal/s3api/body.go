package s3api

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/nixbucket/nixbucket/internal/checksum"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// maxUserMeta is AWS's limit on the x-amz-meta-* headers of one object.
const maxUserMeta = 2 << 10

// storedHeaders collects the headers S3 stores with an object.
func storedHeaders(r *http.Request) (meta.Headers, error) {
	h := meta.Headers{
		ContentType:        r.Header.Get("Content-Type"),
		ContentEncoding:    stripAWSChunked(r.Header.Values("Content-Encoding")),
		ContentDisposition: r.Header.Get("Content-Disposition"),
		ContentLanguage:    r.Header.Get("Content-Language"),
		CacheControl:       r.Header.Get("Cache-Control"),
		Expires:            r.Header.Get("Expires"),
	}
	size := 0
	for name, vs := range r.Header {
		k, ok := strings.CutPrefix(strings.ToLower(name), "x-amz-meta-")
		if !ok || k == "" {
			continue
		}
		if h.UserMeta == nil {
			h.UserMeta = map[string]string{}
		}
		v := decodeUserMeta(strings.Join(vs, ","))
		h.UserMeta[k] = v
		size += len(k) + len(v)
	}
	if size > maxUserMeta {
		return h, errorf("MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.")
	}
	return h, nil
}

// stripAWSChunked removes the aws-chunked transfer coding, which is not a
// property of the object, from a Content-Encoding list.
func stripAWSChunked(values []string) string {
	var keep []string
	for _, v := range values {
		for _, e := range strings.Split(v, ",") {
			e = strings.TrimSpace(e)
			if e != "" && !strings.EqualFold(e, "aws-chunked") {
				keep = append(keep, e)
			}
		}
	}
	return strings.Join(keep, ",")
}

// verifyOf gathers what the client claims about the body: Content-MD5, the
// signed payload hash, and an S3 checksum from a header or a trailer.
func verifyOf(q *request) (objects.Verify, error) {
	var v objects.Verify
	var err error
	if v.MD5, err = contentMD5(q); err != nil {
		return v, err
	}
	v.SHA256 = q.auth.PayloadSHA256
	if v.SHA256 == nil {
		sum, err := unsignedSHA256(q)
		if err != nil {
			return v, err
		}
		v.SHA256 = sum
	}
	if err := checksumClaim(q, &v); err != nil {
		return v, err
	}
	return v, nil
}

// contentMD5 is the request's Content-MD5, decoded, or nil when absent.
func contentMD5(q *request) ([]byte, error) {
	vs, ok := q.Header["Content-Md5"]
	if !ok {
		return nil, nil
	}
	// Present but empty is invalid too, as AWS answers.
	sum, err := base64.StdEncoding.DecodeString(vs[0])
	if err != nil || len(sum) != md5.Size {
		return nil, errorf("InvalidDigest", "")
	}
	return sum, nil
}

// checkDigests checks a small body read whole (a request's XML or policy)
// against its Content-MD5 and x-amz-checksum-* headers, as S3 checks every
// body's: a mismatch is BadDigest. Unlike S3, nixbucket does not require
// one where S3 does (DeleteObjects, PutBucketPolicy): clients send one.
func checkDigests(q *request, body []byte) error {
	sum, err := contentMD5(q)
	if err != nil {
		return err
	}
	if sum != nil {
		if got := md5.Sum(body); !bytes.Equal(got[:], sum) {
			return errorf("BadDigest", "")
		}
	}
	var v objects.Verify
	if err := checksumClaim(q, &v); err != nil {
		return err
	}
	if v.Checksum == nil {
		return nil
	}
	want := v.Checksum()
	if want == "" {
		return nil
	}
	h := v.ChecksumAlgorithm.New()
	h.Write(body)
	if checksum.Encode(h.Sum(nil)) != want {
		return errorf("BadDigest", "The "+string(v.ChecksumAlgorithm)+" you specified did not match the calculated checksum.")
	}
	return nil
}

// declaredSize is the payload length the client announced, or -1.
func declaredSize(q *request) int64 {
	return q.auth.DecodedLength
}
