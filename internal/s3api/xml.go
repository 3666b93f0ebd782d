package s3api

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const s3NS = "http://s3.amazonaws.com/doc/2006-03-01/"

// maxXMLBody bounds request XML: 10,000 completed parts or 1,000 keys to
// delete fit well within it.
const maxXMLBody = 4 << 20

// owner is the one owner nixbucket reports.
var owner = Owner{ID: "6e697862756365746f776e6572000000000000000000000000000000000000", DisplayName: "nixbucket"}

type Owner struct {
	ID          string
	DisplayName string
}

// isoTime formats t as S3 does in XML.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// readXML decodes a bounded XML request body into v, once the body matches
// the Content-MD5 and x-amz-checksum-* headers sent with it. An empty body
// gives errEmptyBody, so callers whose body is optional can tell it apart.
func readXML(q *request, v any) error {
	body, err := readXMLBody(q)
	if err != nil {
		return err
	}
	if err := checkDigests(q, body); err != nil {
		return err
	}
	return decodeXML(body, v)
}

// readXMLBody reads a bounded XML request body whole.
func readXMLBody(q *request) ([]byte, error) {
	tb := newTimedBody(q.w, http.MaxBytesReader(q.w, readerOf(q), maxXMLBody), xmlBodyTime)
	body, err := io.ReadAll(tb)
	tb.stop()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf("MaxMessageLengthExceeded", "Your request was too big.")
		}
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errEmptyBody
	}
	return body, nil
}

func decodeXML(body []byte, v any) error {
	if err := xml.Unmarshal(body, v); err != nil {
		return errorf("MalformedXML", "")
	}
	return nil
}

var errEmptyBody = errorf("MalformedXML", "The request body is empty.")

// readerOf is the request's decoded body as an io.ReadCloser.
func readerOf(q *request) io.ReadCloser {
	if rc, ok := q.auth.Body.(io.ReadCloser); ok {
		return rc
	}
	return io.NopCloser(q.auth.Body)
}

// encodeKey applies encoding-type=url the way S3 does: spaces as %20 and
// slashes left alone, so a prefix "a b/" comes back as "a%20b/" (the
// answers ceph's s3-tests check in test_bucket_list_encoding_basic).
func encodeKey(s string, on bool) string {
	if !on {
		return s
	}
	return strings.NewReplacer("+", "%20", "%2F", "/").Replace(url.QueryEscape(s))
}
