package s3api

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"strconv"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

type objectEntry struct {
	Key               string
	LastModified      string
	ETag              string
	Size              int64
	StorageClass      string
	Owner             *Owner `xml:",omitempty"`
	ChecksumAlgorithm string `xml:",omitempty"`
	ChecksumType      string `xml:",omitempty"` // FULL_OBJECT or COMPOSITE, as AWS lists since 2025
}

type commonPrefix struct {
	Prefix string
}

type listBucketResult struct {
	XMLName        xml.Name `xml:"ListBucketResult"`
	NS             string   `xml:"xmlns,attr"`
	Name           string
	Prefix         string
	Marker         string // always sent, empty or not, as AWS does
	NextMarker     string `xml:",omitempty"`
	MaxKeys        int
	Delimiter      string `xml:",omitempty"`
	IsTruncated    bool
	EncodingType   string `xml:",omitempty"`
	Contents       []objectEntry
	CommonPrefixes []commonPrefix
}

type listBucketResultV2 struct {
	XMLName               xml.Name `xml:"ListBucketResult"`
	NS                    string   `xml:"xmlns,attr"`
	Name                  string
	Prefix                string
	StartAfter            string  `xml:",omitempty"`
	ContinuationToken     *string `xml:",omitempty"` // echoed when sent, even empty
	NextContinuationToken string  `xml:",omitempty"`
	KeyCount              int
	MaxKeys               int
	Delimiter             string `xml:",omitempty"`
	IsTruncated           bool
	EncodingType          string `xml:",omitempty"`
	Contents              []objectEntry
	CommonPrefixes        []commonPrefix
}

// listParams reads the query parameters common to both listing versions.
func listParams(q *request) (in objects.ListInput, urlEnc bool, err error) {
	in = objects.ListInput{Bucket: q.bucket, Prefix: q.query.Get("prefix"), Delimiter: q.query.Get("delimiter"), MaxKeys: objects.MaxListResults}
	if s := q.query.Get("max-keys"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return in, false, errorf("InvalidArgument", "max-keys must be a non-negative integer")
		}
		in.MaxKeys = min(n, objects.MaxListResults)
	}
	switch et := q.query.Get("encoding-type"); et {
	case "":
	case "url":
		urlEnc = true
	default:
		return in, false, errorf("InvalidArgument", "Invalid Encoding Method specified in Request")
	}
	return in, urlEnc, nil
}

// allowList authorizes action for a listing of the bucket's keys
// (ListObjects: s3:ListBucket, ListObjectVersions: s3:ListBucketVersions),
// whose query parameters are the policies' s3:prefix, s3:delimiter and
// s3:max-keys.
func (q *request) allowList(action string) error {
	return denied(q.h.Access.AuthorizeList(q.Context(), q.Request, q.id, action, q.bucketARN()))
}

func entries(objs []meta.Object, urlEnc, withOwner bool) []objectEntry {
	out := make([]objectEntry, 0, len(objs))
	for _, o := range objs {
		e := objectEntry{Key: encodeKey(o.Key, urlEnc), LastModified: isoTime(o.Modified), ETag: `"` + o.ETag + `"`, Size: o.Size, StorageClass: "STANDARD",
			ChecksumAlgorithm: o.ChecksumAlgorithm, ChecksumType: objectChecksumOf(o).ChecksumType}
		if withOwner {
			e.Owner = &owner
		}
		out = append(out, e)
	}
	return out
}

func prefixes(ps []string, urlEnc bool) []commonPrefix {
	out := make([]commonPrefix, 0, len(ps))
	for _, p := range ps {
		out = append(out, commonPrefix{Prefix: encodeKey(p, urlEnc)})
	}
	return out
}

func listObjectsV1(q *request) error {
	if err := q.allowList("s3:ListBucket"); err != nil {
		return err
	}
	in, urlEnc, err := listParams(q)
	if err != nil {
		return err
	}
	in.After = q.query.Get("marker")
	out, err := q.h.Objects.List(q.Context(), in)
	if err != nil {
		return err
	}
	res := listBucketResult{
		NS: s3NS, Name: q.bucket, Prefix: encodeKey(in.Prefix, urlEnc), Marker: encodeKey(in.After, urlEnc),
		MaxKeys: in.MaxKeys, Delimiter: encodeKey(in.Delimiter, urlEnc), IsTruncated: out.Truncated,
		Contents: entries(out.Objects, urlEnc, true), CommonPrefixes: prefixes(out.CommonPrefixes, urlEnc),
	}
	if urlEnc {
		res.EncodingType = "url"
	}
	// AWS sends NextMarker only with a delimiter, but aws-sdk-cpp (Nix,
	// Lix) stops paging without it, so it is always sent when truncated.
	if out.Truncated {
		res.NextMarker = encodeKey(out.Last, urlEnc)
	}
	writeXML(q.w, http.StatusOK, res)
	return nil
}

func listObjectsV2(q *request) error {
	if err := q.allowList("s3:ListBucket"); err != nil {
		return err
	}
	in, urlEnc, err := listParams(q)
	if err != nil {
		return err
	}
	token := q.query.Get("continuation-token")
	var echo *string
	if q.has("continuation-token") {
		echo = &token
	}
	startAfter := q.query.Get("start-after")
	in.After = startAfter
	if token != "" {
		after, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return errorf("InvalidArgument", "The continuation token provided is incorrect")
		}
		in.After = string(after)
	}
	out, err := q.h.Objects.List(q.Context(), in)
	if err != nil {
		return err
	}
	res := listBucketResultV2{
		NS: s3NS, Name: q.bucket, Prefix: encodeKey(in.Prefix, urlEnc), StartAfter: encodeKey(startAfter, urlEnc),
		ContinuationToken: echo, KeyCount: len(out.Objects) + len(out.CommonPrefixes), MaxKeys: in.MaxKeys,
		Delimiter: encodeKey(in.Delimiter, urlEnc), IsTruncated: out.Truncated,
		Contents:       entries(out.Objects, urlEnc, q.query.Get("fetch-owner") == "true"),
		CommonPrefixes: prefixes(out.CommonPrefixes, urlEnc),
	}
	if urlEnc {
		res.EncodingType = "url"
	}
	if out.Truncated {
		res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(out.Last))
	}
	writeXML(q.w, http.StatusOK, res)
	return nil
}
