package s3api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/nixbucket/nixbucket/internal/checksum"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// AWS's refusals of checksum headers, word for word (as observed against
// S3 and reproduced by Scality's cloudserver, lib/api/apiUtils/integrity/
// validateChecksums.js, and floci's S3 comparison tables).
const (
	msgMultipleChecksums  = "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
	msgUnknownChecksum    = "The algorithm type you specified in x-amz-checksum- header is invalid."
	msgBadSDKAlgorithm    = "Value for x-amz-sdk-checksum-algorithm header is invalid."
	msgBadTrailer         = "The value specified in the x-amz-trailer header is not supported"
	msgUnsupportedAlg     = "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, MD5, SHA1, SHA256, SHA512, XXHASH3, XXHASH64, XXHASH128]"
	msgBadChecksumType    = "Value for x-amz-checksum-type header is invalid."
	msgTypeWithoutAlg     = "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
	msgSDKWithoutChecksum = "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found."
	checksumHeaderPrefix  = "x-amz-checksum-"
	headerChecksumType    = "x-amz-checksum-type"
	headerChecksumAlg     = "x-amz-checksum-algorithm"
	headerChecksumMode    = "x-amz-checksum-mode"
	headerSDKChecksumAlgo = "X-Amz-Sdk-Checksum-Algorithm"
)

// checksumClaim sets v's S3 checksum from the request: a value in an
// x-amz-checksum-* header, or one promised in a trailer (x-amz-trailer).
// An x-amz-sdk-checksum-algorithm must name the same algorithm, and
// alone (no value to check) is refused, as S3 refuses it: it is what an
// SDK sends when it meant to attach a checksum and failed to (aws-sdk-cpp
// issue 3859, HADOOP-19046).
func checksumClaim(q *request, v *objects.Verify) error {
	for name, vals := range q.Header {
		lower := strings.ToLower(name)
		suffix, ok := strings.CutPrefix(lower, checksumHeaderPrefix)
		if !ok || lower == headerChecksumType || lower == headerChecksumAlg || lower == headerChecksumMode {
			continue
		}
		alg, err := checksum.Parse(suffix)
		if err != nil {
			return errorf("InvalidRequest", msgUnknownChecksum)
		}
		if v.ChecksumAlgorithm != "" || len(vals) > 1 {
			return errorf("InvalidRequest", msgMultipleChecksums)
		}
		val := vals[0]
		if !alg.Valid(val) {
			return errorf("InvalidRequest", "Value for "+alg.Header()+" header is invalid.")
		}
		v.ChecksumAlgorithm, v.Checksum = alg, func() string { return val }
	}
	if tr := q.Header.Get("X-Amz-Trailer"); tr != "" {
		alg := checksum.FromHeader(strings.TrimSpace(tr))
		if alg == "" {
			return errorf("InvalidRequest", msgBadTrailer)
		}
		if v.ChecksumAlgorithm != "" && v.ChecksumAlgorithm != alg {
			return errorf("InvalidRequest", msgMultipleChecksums)
		}
		trailer := q.auth.Trailer
		name := alg.Header()
		v.ChecksumAlgorithm = alg
		v.Checksum = func() string {
			if trailer == nil {
				return ""
			}
			return trailer().Get(name)
		}
	}
	if s := q.Header.Get(headerSDKChecksumAlgo); s != "" {
		alg, err := checksum.Parse(s)
		// A value for another algorithm than the one named: AWS answers
		// as for an unknown name.
		if err != nil || v.ChecksumAlgorithm != "" && v.ChecksumAlgorithm != alg {
			return errorf("InvalidRequest", msgBadSDKAlgorithm)
		}
		if v.ChecksumAlgorithm == "" {
			return errorf("InvalidRequest", msgSDKWithoutChecksum)
		}
	}
	return nil
}

// uploadChecksumOf reads CreateMultipartUpload's x-amz-checksum-algorithm
// and x-amz-checksum-type, checking them in AWS's order: the algorithm,
// then the type, then whether they go together.
func uploadChecksumOf(h http.Header) (checksum.Algorithm, checksum.Type, error) {
	algName, typName := h.Get(headerChecksumAlg), h.Get(headerChecksumType)
	var alg checksum.Algorithm
	var err error
	if algName != "" {
		if alg, err = checksum.Parse(algName); err != nil {
			return "", "", errorf("InvalidRequest", msgUnsupportedAlg)
		}
	}
	if typName == "" {
		return alg, "", nil
	}
	if alg == "" {
		return "", "", errorf("InvalidRequest", msgTypeWithoutAlg)
	}
	typ, err := checksum.ParseType(typName)
	if err != nil {
		return "", "", errorf("InvalidRequest", msgBadChecksumType)
	}
	if !alg.Allows(typ) {
		return "", "", errorf("InvalidRequest", "The "+string(typ)+" checksum type cannot be used with the "+strings.ToLower(string(alg))+" checksum algorithm.")
	}
	return alg, typ, nil
}

// completeChecksumOf reads what CompleteMultipartUpload's headers say of
// the object's checksum.
func completeChecksumOf(h http.Header) (objects.CompleteChecksum, error) {
	var c objects.CompleteChecksum
	if s := h.Get(headerChecksumType); s != "" {
		t, err := checksum.ParseType(s)
		if err != nil {
			return c, errorf("InvalidRequest", msgBadChecksumType)
		}
		c.Type = t
	}
	if s := h.Get("X-Amz-Mp-Object-Size"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return c, errorf("InvalidArgument", "Invalid x-amz-mp-object-size: "+s)
		}
		c.Size = &n
	}
	for _, alg := range checksum.All {
		if v := h.Get(alg.Header()); v != "" {
			if c.Algorithm != "" {
				return c, errorf("InvalidRequest", msgMultipleChecksums)
			}
			c.Algorithm, c.Value = alg, v
		}
	}
	return c, nil
}

// setChecksumHeaders sends an object's checksum and its type.
func setChecksumHeaders(h http.Header, o meta.Object) {
	if o.ChecksumAlgorithm == "" || o.Checksum == "" {
		return
	}
	h.Set(checksum.Algorithm(o.ChecksumAlgorithm).Header(), o.Checksum)
	h.Set(headerChecksumType, string(checksum.TypeOf(o.Checksum)))
}

// checksumXML is the Checksum* elements of S3's results (CompleteMultipart
// UploadResult, CopyObjectResult, a ListParts Part): one value, under its
// algorithm's name.
type checksumXML struct {
	ChecksumCRC32     string `xml:",omitempty"`
	ChecksumCRC32C    string `xml:",omitempty"`
	ChecksumCRC64NVME string `xml:",omitempty"`
	ChecksumSHA1      string `xml:",omitempty"`
	ChecksumSHA256    string `xml:",omitempty"`
	ChecksumMD5       string `xml:",omitempty"`
	ChecksumSHA512    string `xml:",omitempty"`
	ChecksumXXHASH64  string `xml:",omitempty"`
	ChecksumXXHASH3   string `xml:",omitempty"`
	ChecksumXXHASH128 string `xml:",omitempty"`
}

// field returns the element holding a's value.
func (c *checksumXML) field(a checksum.Algorithm) *string {
	switch a {
	case checksum.CRC32:
		return &c.ChecksumCRC32
	case checksum.CRC32C:
		return &c.ChecksumCRC32C
	case checksum.CRC64NVME:
		return &c.ChecksumCRC64NVME
	case checksum.SHA1:
		return &c.ChecksumSHA1
	case checksum.SHA256:
		return &c.ChecksumSHA256
	case checksum.MD5:
		return &c.ChecksumMD5
	case checksum.SHA512:
		return &c.ChecksumSHA512
	case checksum.XXHASH64:
		return &c.ChecksumXXHASH64
	case checksum.XXHASH3:
		return &c.ChecksumXXHASH3
	case checksum.XXHASH128:
		return &c.ChecksumXXHASH128
	}
	return nil
}

func newChecksumXML(a checksum.Algorithm, v string) checksumXML {
	var c checksumXML
	if p := c.field(a); p != nil && v != "" {
		*p = v
	}
	return c
}

// only returns the one value set, and its algorithm.
func (c checksumXML) only() (checksum.Algorithm, string) {
	for _, a := range checksum.All {
		if v := *c.field(a); v != "" {
			return a, v
		}
	}
	return "", ""
}

// objectChecksumXML is an object's checksum and type as result elements.
type objectChecksumXML struct {
	checksumXML
	ChecksumType string `xml:",omitempty"`
}

func objectChecksumOf(o meta.Object) objectChecksumXML {
	if o.Checksum == "" {
		return objectChecksumXML{}
	}
	return objectChecksumXML{newChecksumXML(checksum.Algorithm(o.ChecksumAlgorithm), o.Checksum), string(checksum.TypeOf(o.Checksum))}
}

// copyChecksumOf reads CopyObject's x-amz-checksum-algorithm, the
// checksum the copy is to keep; empty keeps the source's.
func copyChecksumOf(h http.Header) (checksum.Algorithm, error) {
	s := h.Get(headerChecksumAlg)
	if s == "" {
		return "", nil
	}
	alg, err := checksum.Parse(s)
	if err != nil {
		return "", errorf("InvalidRequest", msgUnsupportedAlg)
	}
	return alg, nil
}

// setPartChecksumHeader answers UploadPart with the part's checksum: the
// one the client claimed (checked equal), else the one the part keeps.
func setPartChecksumHeader(q *request, v objects.Verify, p meta.Part) {
	h := q.w.Header()
	if v.ChecksumAlgorithm != "" && v.Checksum != nil {
		if s := v.Checksum(); s != "" {
			h.Set(v.ChecksumAlgorithm.Header(), s)
			return
		}
	}
	if p.Checksum == "" {
		return
	}
	u, err := q.h.Objects.Upload(q.Context(), q.bucket, q.key, q.query.Get("uploadId"))
	if err != nil {
		return
	}
	alg, _ := objects.UploadChecksum(u)
	h.Set(alg.Header(), p.Checksum)
}

// dropChecksumHeaders removes an object's checksum from an answer that
// serves other bytes than the stored ones.
func dropChecksumHeaders(h http.Header) {
	for k := range h {
		if strings.HasPrefix(strings.ToLower(k), checksumHeaderPrefix) {
			delete(h, k)
		}
	}
}
