package s3api

import (
	"encoding/xml"
	"net/http"
)

// nixbucket keeps one version of each key: its buckets are what AWS calls
// unversioned, where every object's version ID is "null". ListObjectVersions
// answers as AWS does for such a bucket (SDK cleanup code, Terraform and
// test suites call it before deleting a bucket), GetBucketVersioning
// answers an empty configuration, and PutBucketVersioning refuses to turn
// versioning on.

// nullVersion is the version ID of every object in an unversioned bucket.
const nullVersion = "null"

// noVersion refuses a versionId other than "null", which names the one
// version there is; AWS answers an unknown one with this error.
func noVersion(q *request) error {
	if v, ok := q.query["versionId"]; ok && (len(v) != 1 || v[0] != nullVersion) {
		return errorf("InvalidArgument", "Invalid version id specified")
	}
	return nil
}

type listVersionsResult struct {
	XMLName             xml.Name `xml:"ListVersionsResult"`
	NS                  string   `xml:"xmlns,attr"`
	Name                string
	Prefix              string
	KeyMarker           string
	VersionIDMarker     string `xml:"VersionIdMarker"`
	NextKeyMarker       string `xml:",omitempty"`
	NextVersionIDMarker string `xml:"NextVersionIdMarker,omitempty"`
	MaxKeys             int
	Delimiter           string `xml:",omitempty"`
	IsTruncated         bool
	EncodingType        string         `xml:",omitempty"`
	Versions            []versionEntry `xml:"Version"`
	CommonPrefixes      []commonPrefix
}

type versionEntry struct {
	Key               string
	VersionID         string `xml:"VersionId"`
	IsLatest          bool
	LastModified      string
	ETag              string
	Size              int64
	StorageClass      string
	Owner             Owner
	ChecksumAlgorithm string `xml:",omitempty"`
	ChecksumType      string `xml:",omitempty"`
}

// listObjectVersions lists every object as its one, latest, version
// "null". A page ends after a key, so the next starts after key-marker
// whatever version-id-marker says ("null" or empty: the key's versions
// were all listed).
func listObjectVersions(q *request) error {
	if err := q.allowList("s3:ListBucketVersions"); err != nil {
		return err
	}
	in, urlEnc, err := listParams(q)
	if err != nil {
		return err
	}
	keyMarker, versionMarker := q.query.Get("key-marker"), q.query.Get("version-id-marker")
	switch {
	case versionMarker != "" && keyMarker == "":
		return errorf("InvalidArgument", "A version-id marker cannot be specified without a key marker.")
	case versionMarker != "" && versionMarker != nullVersion:
		return errorf("InvalidArgument", "Invalid version id specified")
	}
	in.After = keyMarker
	out, err := q.h.Objects.List(q.Context(), in)
	if err != nil {
		return err
	}
	res := listVersionsResult{
		NS: s3NS, Name: q.bucket, Prefix: encodeKey(in.Prefix, urlEnc), KeyMarker: encodeKey(keyMarker, urlEnc),
		VersionIDMarker: versionMarker, MaxKeys: in.MaxKeys, Delimiter: encodeKey(in.Delimiter, urlEnc),
		IsTruncated: out.Truncated, CommonPrefixes: prefixes(out.CommonPrefixes, urlEnc),
	}
	if urlEnc {
		res.EncodingType = "url"
	}
	for _, o := range out.Objects {
		res.Versions = append(res.Versions, versionEntry{
			Key: encodeKey(o.Key, urlEnc), VersionID: nullVersion, IsLatest: true, LastModified: isoTime(o.Modified),
			ETag: `"` + o.ETag + `"`, Size: o.Size, StorageClass: "STANDARD", Owner: owner, ChecksumAlgorithm: o.ChecksumAlgorithm,
			ChecksumType: objectChecksumOf(o).ChecksumType,
		})
	}
	if out.Truncated {
		res.NextKeyMarker = encodeKey(out.Last, urlEnc)
		if n := len(out.Objects); n > 0 && out.Objects[n-1].Key == out.Last {
			res.NextVersionIDMarker = nullVersion
		}
	}
	writeXML(q.w, http.StatusOK, res)
	return nil
}

type versioningRequest struct {
	XMLName   xml.Name `xml:"VersioningConfiguration"`
	Status    string
	MfaDelete string
}

// putBucketVersioning accepts what leaves a bucket unversioned (Suspended,
// which is how an unversioned bucket behaves, or no status) and refuses
// Enabled with 501: nixbucket keeps one version of each key.
func putBucketVersioning(q *request) error {
	if err := q.allow("s3:PutBucketVersioning", q.bucketARN()); err != nil {
		return err
	}
	if _, err := q.h.Objects.Bucket(q.Context(), q.bucket); err != nil {
		return err
	}
	var req versioningRequest
	if err := readXML(q, &req); err != nil {
		return err
	}
	switch req.Status {
	case "", "Suspended":
	case "Enabled":
		return errorf("NotImplemented", "Bucket versioning is not implemented: nixbucket keeps one version of each object. Buckets behave as unversioned S3 buckets, where every object's version ID is \"null\".")
	default:
		return errorf("MalformedXML", "")
	}
	if req.MfaDelete == "Enabled" {
		return errorf("NotImplemented", "MFA Delete is not implemented.")
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}
