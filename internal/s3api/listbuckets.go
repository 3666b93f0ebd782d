package s3api

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
)

type listAllMyBucketsResult struct {
	XMLName           xml.Name `xml:"ListAllMyBucketsResult"`
	NS                string   `xml:"xmlns,attr"`
	Owner             Owner
	Buckets           []bucketEntry `xml:"Buckets>Bucket"`
	ContinuationToken string        `xml:",omitempty"` // the next page's
	Prefix            *string       `xml:",omitempty"` // echoed when sent
}

type bucketEntry struct {
	Name         string
	CreationDate string
	BucketRegion string `xml:",omitempty"`
}

// maxBuckets is the largest max-buckets AWS accepts.
const maxBuckets = 10000

// listBuckets answers ListBuckets with AWS's paging
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListBuckets.html):
// max-buckets (1 to 10,000) bounds a page, continuation-token resumes after
// the previous one, prefix filters by name. Without max-buckets every
// bucket comes in one answer, as before paging existed.
func listBuckets(q *request) error {
	if err := q.allow("s3:ListAllMyBuckets", "arn:aws:s3:::*"); err != nil {
		return err
	}
	limit := -1
	if q.has("max-buckets") {
		n, err := strconv.Atoi(q.query.Get("max-buckets"))
		if err != nil || n < 1 || n > maxBuckets {
			return errorf("InvalidArgument", "Argument max-buckets must be an integer between 1 and 10000")
		}
		limit = n
	}
	after := ""
	if q.has("continuation-token") {
		b, err := base64.RawURLEncoding.DecodeString(q.query.Get("continuation-token"))
		if err != nil || len(b) == 0 {
			return errorf("InvalidArgument", "The continuation token provided is incorrect")
		}
		after = string(b)
	}
	if r := q.query.Get("bucket-region"); r != "" && r != q.h.region() {
		// Every bucket is in the server's region: none is in another.
		writeXML(q.w, http.StatusOK, listAllMyBucketsResult{NS: s3NS, Owner: owner, Buckets: []bucketEntry{}, Prefix: prefixEcho(q)})
		return nil
	}
	bs, err := q.h.Objects.Buckets(q.Context())
	if err != nil {
		return err
	}
	prefix := q.query.Get("prefix")
	// AWS names each bucket's region when the request has any of the
	// parameters (the S3 API reference, Bucket: BucketRegion).
	withRegion := limit > 0 || q.has("continuation-token") || q.has("prefix") || q.has("bucket-region")
	res := listAllMyBucketsResult{NS: s3NS, Owner: owner, Buckets: []bucketEntry{}, Prefix: prefixEcho(q)}
	for _, b := range bs { // sorted by name
		if b.Name <= after || !strings.HasPrefix(b.Name, prefix) {
			continue
		}
		if len(res.Buckets) == limit {
			res.ContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(res.Buckets[limit-1].Name))
			break
		}
		e := bucketEntry{Name: b.Name, CreationDate: isoTime(b.Created)}
		if withRegion {
			e.BucketRegion = q.h.region()
		}
		res.Buckets = append(res.Buckets, e)
	}
	writeXML(q.w, http.StatusOK, res)
	return nil
}

func prefixEcho(q *request) *string {
	if !q.has("prefix") {
		return nil
	}
	p := q.query.Get("prefix")
	return &p
}
