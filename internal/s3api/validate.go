package s3api

import (
	"encoding/hex"
	"net/url"
	"strings"

	"github.com/nixbucket/nixbucket/internal/forwarded"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/sigv4"
)

// writeConditions reads a write's If-Match and If-None-Match. AWS supports
// only "*" in If-None-Match on writes and answers 501 NotImplemented to an
// entity tag there (PutObject: "If-None-Match … Expects the '*'
// character", https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html).
func writeConditions(q *request) (objects.Conditions, error) {
	c := conditions(q.Request)
	if c.IfNoneMatch != "" && strings.TrimSpace(c.IfNoneMatch) != "*" {
		return c, errorf("NotImplemented", "")
	}
	return c, nil
}

// checkKeyLength refuses a key over S3's 1,024 bytes before anything else
// is read, on every path that writes one.
func checkKeyLength(key string) error {
	if len(key) > objects.MaxKeyLength {
		return errorf("KeyTooLongError", "")
	}
	return nil
}

// objectURL is the absolute URL of the request's object, as the client
// addressed it: AWS's CompleteMultipartUpload Location is one
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html).
func (q *request) objectURL() string {
	scheme := forwarded.Scheme(q.Request)
	path := "/" + q.bucket + "/" + q.key
	if _, ok := sigv4.VirtualHostBucket(q.Host, q.h.Domain); ok {
		path = "/" + q.key
	}
	return (&url.URL{Scheme: scheme, Host: q.Host, Path: path}).String()
}

// unsignedSHA256 is the x-amz-content-sha256 of a request no signature
// covers (anonymous, Bearer or Basic), when it is a hash: AWS checks the
// body against it all the same. Other values (UNSIGNED-PAYLOAD, the
// STREAMING- modes) claim nothing about the bytes.
func unsignedSHA256(q *request) ([]byte, error) {
	v := header(q.Header, "X-Amz-Content-Sha256")
	if v == "" || q.auth.Version != 0 || strings.HasPrefix(v, "UNSIGNED-") || strings.HasPrefix(v, "STREAMING-") {
		return nil, nil
	}
	sum, err := hex.DecodeString(v)
	if err != nil || len(sum) != 32 {
		return nil, errorf("InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")
	}
	return sum, nil
}
