package s3api

import (
	"encoding/xml"
	"net/http"
	"strconv"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

type initiateResult struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	NS       string   `xml:"xmlns,attr"`
	Bucket   string
	Key      string
	UploadID string `xml:"UploadId"`
}

// createUpload starts a multipart upload. Nix ≥2.33 sends a Content-MD5
// of the whole object on this empty POST; it is deliberately not checked.
func createUpload(q *request) error {
	if err := q.allow("s3:PutObject", q.objectARN()); err != nil {
		return err
	}
	if err := checkKeyLength(q.key); err != nil {
		return err
	}
	tags, err := objectWrite(q, true)
	if err != nil {
		return err
	}
	h, err := storedHeaders(q.Request)
	if err != nil {
		return err
	}
	alg, typ, err := uploadChecksumOf(q.Header)
	if err != nil {
		return err
	}
	u, err := q.h.Objects.CreateTaggedUpload(q.Context(), q.bucket, q.key, h, alg, typ, tags)
	if err != nil {
		return err
	}
	if alg != "" {
		q.w.Header().Set(headerChecksumAlg, u.ChecksumAlgorithm)
		q.w.Header().Set(headerChecksumType, u.ChecksumType)
	}
	writeXML(q.w, http.StatusOK, initiateResult{NS: s3NS, Bucket: q.bucket, Key: q.key, UploadID: u.ID})
	return nil
}

func uploadPart(q *request) error {
	if err := q.allow("s3:PutObject", q.objectARN()); err != nil {
		return err
	}
	if err := needLength(q); err != nil {
		return err
	}
	n, err := strconv.Atoi(q.query.Get("partNumber"))
	if err != nil {
		return errorf("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
	}
	v, err := verifyOf(q)
	if err != nil {
		return err
	}
	p, err := q.h.Objects.UploadPart(q.Context(), objects.PartInput{
		Bucket: q.bucket, Key: q.key, UploadID: q.query.Get("uploadId"), Number: n,
		Body: q.auth.Body, Size: declaredSize(q), Verify: v,
	})
	if err != nil {
		return err
	}
	q.w.Header().Set("ETag", `"`+p.ETag+`"`)
	setPartChecksumHeader(q, v, p)
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func abortUpload(q *request) error {
	if err := q.allow("s3:AbortMultipartUpload", q.objectARN()); err != nil {
		return err
	}
	if err := q.h.Objects.AbortUpload(q.Context(), q.bucket, q.key, q.query.Get("uploadId")); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

type listPartsResult struct {
	XMLName              xml.Name `xml:"ListPartsResult"`
	NS                   string   `xml:"xmlns,attr"`
	Bucket               string
	Key                  string
	UploadID             string `xml:"UploadId"`
	Initiator            Owner
	Owner                Owner
	StorageClass         string
	PartNumberMarker     int
	NextPartNumberMarker int
	MaxParts             int
	IsTruncated          bool
	ChecksumAlgorithm    string      `xml:",omitempty"`
	ChecksumType         string      `xml:",omitempty"`
	Parts                []partEntry `xml:"Part"`
}

type partEntry struct {
	PartNumber   int
	LastModified string
	ETag         string
	Size         int64
	checksumXML
}

func intParam(q *request, name string, def int) (int, error) {
	s := q.query.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errorf("InvalidArgument", name+" must be a non-negative integer")
	}
	return n, nil
}

func listParts(q *request) error {
	if err := q.allow("s3:ListMultipartUploadParts", q.objectARN()); err != nil {
		return err
	}
	marker, err := intParam(q, "part-number-marker", 0)
	if err != nil {
		return err
	}
	max, err := intParam(q, "max-parts", objects.MaxListResults)
	if err != nil {
		return err
	}
	// AWS returns at most 1,000 parts and says so in MaxParts.
	max = min(max, objects.MaxListResults)
	uploadID := q.query.Get("uploadId")
	u, err := q.h.Objects.Upload(q.Context(), q.bucket, q.key, uploadID)
	if err != nil {
		return err
	}
	var ps []meta.Part
	truncated := false
	// max-parts=0 asks for no part: an empty page, not truncated, as
	// ListObjects answers max-keys=0 (objects.Parts takes 0 as its default).
	if max > 0 {
		if ps, truncated, err = q.h.Objects.Parts(q.Context(), q.bucket, q.key, uploadID, marker, max); err != nil {
			return err
		}
	}
	res := listPartsResult{
		NS: s3NS, Bucket: q.bucket, Key: q.key, UploadID: uploadID, Initiator: owner, Owner: owner,
		StorageClass: "STANDARD", PartNumberMarker: marker, MaxParts: max, IsTruncated: truncated,
		ChecksumAlgorithm: u.ChecksumAlgorithm, ChecksumType: u.ChecksumType, Parts: []partEntry{},
	}
	// Parts of an upload that named no algorithm show the default
	// CRC64NVME each keeps (S3 API reference, ObjectPart ChecksumCRC64NVME:
	// "present ... if the object was uploaded without a checksum").
	alg, _ := objects.UploadChecksum(u)
	for _, p := range ps {
		e := partEntry{PartNumber: p.Number, LastModified: isoTime(p.Modified), ETag: `"` + p.ETag + `"`, Size: p.Size,
			checksumXML: newChecksumXML(alg, p.Checksum)}
		res.Parts = append(res.Parts, e)
		res.NextPartNumberMarker = p.Number
	}
	writeXML(q.w, http.StatusOK, res)
	return nil
}

type listUploadsResult struct {
	XMLName            xml.Name `xml:"ListMultipartUploadsResult"`
	NS                 string   `xml:"xmlns,attr"`
	Bucket             string
	KeyMarker          string
	UploadIDMarker     string `xml:"UploadIdMarker"`
	NextKeyMarker      string
	NextUploadIDMarker string `xml:"NextUploadIdMarker"`
	Prefix             string
	Delimiter          string `xml:",omitempty"`
	MaxUploads         int
	IsTruncated        bool
	EncodingType       string        `xml:",omitempty"`
	Uploads            []uploadEntry `xml:"Upload"`
	CommonPrefixes     []commonPrefix
}

type uploadEntry struct {
	Key          string
	UploadID     string `xml:"UploadId"`
	Initiator    Owner
	Owner        Owner
	StorageClass string
	Initiated    string
	// ChecksumAlgorithm and ChecksumType are CreateMultipartUpload's, as
	// AWS lists them (S3 API reference, MultipartUpload).
	ChecksumAlgorithm string `xml:",omitempty"`
	ChecksumType      string `xml:",omitempty"`
}

func listUploads(q *request) error {
	if err := q.allow("s3:ListBucketMultipartUploads", q.bucketARN()); err != nil {
		return err
	}
	max, err := intParam(q, "max-uploads", objects.MaxListResults)
	if err != nil {
		return err
	}
	// AWS returns at most 1,000 uploads and says so in MaxUploads.
	max = min(max, objects.MaxListResults)
	urlEnc := false
	switch et := q.query.Get("encoding-type"); et {
	case "":
	case "url":
		urlEnc = true
	default:
		return errorf("InvalidArgument", "Invalid Encoding Method specified in Request")
	}
	if max == 0 { // nothing asked for; objects.Uploads would take 0 as its default
		if _, err := q.h.Objects.Bucket(q.Context(), q.bucket); err != nil {
			return err
		}
	}
	in := objects.UploadsInput{
		Bucket: q.bucket, Prefix: q.query.Get("prefix"), Delimiter: q.query.Get("delimiter"),
		KeyMarker: q.query.Get("key-marker"), UploadIDMarker: q.query.Get("upload-id-marker"), MaxUploads: max,
	}
	var out objects.UploadsOutput
	if max > 0 {
		if out, err = q.h.Objects.Uploads(q.Context(), in); err != nil {
			return err
		}
	}
	res := listUploadsResult{
		NS: s3NS, Bucket: q.bucket, KeyMarker: encodeKey(in.KeyMarker, urlEnc), UploadIDMarker: in.UploadIDMarker,
		Prefix: encodeKey(in.Prefix, urlEnc), Delimiter: encodeKey(in.Delimiter, urlEnc), MaxUploads: max,
		IsTruncated: out.Truncated, CommonPrefixes: prefixes(out.CommonPrefixes, urlEnc),
	}
	if urlEnc {
		res.EncodingType = "url"
	}
	if out.Truncated {
		res.NextKeyMarker, res.NextUploadIDMarker = encodeKey(out.NextKeyMarker, urlEnc), out.NextUploadID
	}
	for _, u := range out.Uploads {
		res.Uploads = append(res.Uploads, uploadEntry{
			Key: encodeKey(u.Key, urlEnc), UploadID: u.ID, Initiator: owner, Owner: owner,
			StorageClass: "STANDARD", Initiated: isoTime(u.Initiated),
			ChecksumAlgorithm: u.ChecksumAlgorithm, ChecksumType: u.ChecksumType,
		})
	}
	writeXML(q.w, http.StatusOK, res)
	return nil
}
