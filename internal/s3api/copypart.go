package s3api

import (
	"encoding/xml"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/nixbucket/nixbucket/internal/checksum"
	"github.com/nixbucket/nixbucket/internal/objects"
)

type copyPartResult struct {
	XMLName           xml.Name `xml:"CopyPartResult"`
	NS                string   `xml:"xmlns,attr"`
	LastModified      string
	ETag              string
	ChecksumCRC32     string `xml:",omitempty"`
	ChecksumCRC32C    string `xml:",omitempty"`
	ChecksumCRC64NVME string `xml:",omitempty"`
	ChecksumSHA1      string `xml:",omitempty"`
	ChecksumSHA256    string `xml:",omitempty"`
}

// badCopyRange is AWS's answer to an x-amz-copy-source-range it cannot
// parse.
var badCopyRange = errorf("InvalidArgument", "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")

// copyRange parses x-amz-copy-source-range: "bytes=first-last", both
// offsets given (UploadPartCopy's API reference).
func copyRange(v string) (first, last int64, err error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !ok {
		return 0, 0, badCopyRange
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok || a == "" || b == "" {
		return 0, 0, badCopyRange
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || first < 0 || last < 0 {
		return 0, 0, badCopyRange
	}
	return first, last, nil
}

// uploadPartCopy is UploadPart with x-amz-copy-source: the aws CLI copies
// objects above its multipart threshold with it. It needs s3:GetObject on
// the source and s3:PutObject on the target, as CopyObject does.
func uploadPartCopy(q *request) error {
	srcBucket, srcKey, err := allowedCopySource(q)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(q.query.Get("partNumber"))
	if err != nil {
		return errorf("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
	}
	in := objects.CopyPartInput{
		Bucket: q.bucket, Key: q.key, UploadID: q.query.Get("uploadId"), Number: n,
		SrcBucket: srcBucket, SrcKey: srcKey, SrcCond: sourceConditions(q),
	}
	if v := q.Header.Get("x-amz-copy-source-range"); v != "" {
		in.Range = true
		if in.First, in.Last, err = copyRange(v); err != nil {
			return err
		}
	}
	p, src, err := q.h.Objects.CopyPart(q.Context(), in)
	switch {
	case errors.Is(err, objects.ErrCopyRange):
		return errorf("InvalidArgument", "Range specified is not valid for source object of size: "+strconv.FormatInt(src.Size, 10))
	case errors.Is(err, objects.ErrCopySourceTooLarge):
		return errorf("InvalidRequest", "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120")
	case err != nil:
		return err
	}
	res := copyPartResult{NS: s3NS, LastModified: isoTime(p.Modified), ETag: `"` + p.ETag + `"`}
	u, err := q.h.Objects.Upload(q.Context(), q.bucket, q.key, in.UploadID)
	if err == nil && p.Checksum != "" {
		switch checksum.Algorithm(u.ChecksumAlgorithm) {
		case checksum.CRC32:
			res.ChecksumCRC32 = p.Checksum
		case checksum.CRC32C:
			res.ChecksumCRC32C = p.Checksum
		case checksum.CRC64NVME:
			res.ChecksumCRC64NVME = p.Checksum
		case checksum.SHA1:
			res.ChecksumSHA1 = p.Checksum
		case checksum.SHA256:
			res.ChecksumSHA256 = p.Checksum
		}
	}
	writeXML(q.w, http.StatusOK, res)
	return nil
}

// sourceConditions reads the x-amz-copy-source-if-* headers.
func sourceConditions(q *request) objects.SourceConditions {
	c := objects.SourceConditions{
		IfMatch:     q.Header.Get("x-amz-copy-source-if-match"),
		IfNoneMatch: q.Header.Get("x-amz-copy-source-if-none-match"),
	}
	if t, ok := modifiedSince(q.Header.Get("x-amz-copy-source-if-modified-since")); ok {
		c.IfModifiedSince = t
	}
	if t, err := http.ParseTime(q.Header.Get("x-amz-copy-source-if-unmodified-since")); err == nil {
		c.IfUnmodifiedSince = t
	}
	return c
}

// sourceVersion refuses a copy source naming a version other than "null"
// (see noVersion).
func sourceVersion(q *request) error {
	_, v, ok := strings.Cut(q.Header.Get("x-amz-copy-source"), "?")
	if !ok {
		return nil
	}
	if id, ok := strings.CutPrefix(v, "versionId="); ok && id != nullVersion {
		return errorf("InvalidArgument", "Invalid version id specified")
	}
	return nil
}
