package objects

import (
	"fmt"
	"strings"

	"github.com/nixbucket/nixbucket/internal/checksum"
	"github.com/nixbucket/nixbucket/internal/meta"
)

// RequestError is a refusal S3 answers with InvalidRequest and Message,
// word for word.
type RequestError struct{ Message string }

func (e *RequestError) Error() string { return e.Message }

// mismatchError is ErrChecksumMismatch with AWS's BadDigest message.
type mismatchError struct{ alg checksum.Algorithm }

func (e mismatchError) Error() string {
	return "The " + string(e.alg) + " you specified did not match the calculated checksum."
}

func (e mismatchError) Is(target error) bool { return target == ErrChecksumMismatch }

func requestErrorf(format string, args ...any) error {
	return &RequestError{Message: fmt.Sprintf(format, args...)}
}

// uploadChecksum is the checksum an upload keeps for its parts and
// derives for its object. An upload that named no algorithm gets S3's
// default, a FULL_OBJECT CRC64NVME ("if objects are uploaded without a
// checksum, S3 automatically attaches the recommended full object
// CRC-64/NVME checksum", AWS, "Checking object integrity"); declared
// reports whether the client named one.
func uploadChecksum(u meta.Upload) (alg checksum.Algorithm, typ checksum.Type, declared bool) {
	if u.ChecksumAlgorithm == "" {
		return checksum.Default, checksum.FullObject, false
	}
	alg = checksum.Algorithm(u.ChecksumAlgorithm)
	typ = checksum.Type(u.ChecksumType)
	if typ == "" { // uploads created before the type was kept
		typ = alg.DefaultType()
	}
	return alg, typ, true
}

// UploadChecksum is the algorithm and type of u's checksums (see
// uploadChecksum), for ListParts.
func UploadChecksum(u meta.Upload) (checksum.Algorithm, checksum.Type) {
	alg, typ, _ := uploadChecksum(u)
	return alg, typ
}

// partVerify fits a part's claims to its upload: a part of an upload that
// declared an algorithm must claim that one (AWS refuses another with this
// message), and keeps the upload's. A part of a COMPOSITE upload must
// claim it at all, as the object's checksum is made of the parts' as the
// client computed them (AWS refuses "actual checksum Type: null"); a
// FULL_OBJECT upload's part may come without, and gets one computed.
func partVerify(u meta.Upload, v Verify) (Verify, error) {
	alg, typ, declared := uploadChecksum(u)
	if declared && v.ChecksumAlgorithm != alg && (v.ChecksumAlgorithm != "" || typ == checksum.Composite) {
		actual := "null"
		if v.ChecksumAlgorithm != "" {
			actual = strings.ToLower(string(v.ChecksumAlgorithm))
		}
		return v, requestErrorf("Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s",
			strings.ToLower(string(alg)), actual)
	}
	v.Record = alg
	return v, nil
}

// CompleteChecksum is what a CompleteMultipartUpload request says about the
// object's checksum: its x-amz-checksum-type, and an x-amz-checksum-*
// value the result must equal. Each may be empty. Size, if set, is the
// object's size the request states (x-amz-mp-object-size): another is
// refused with InvalidRequest, as S3 does.
type CompleteChecksum struct {
	Type      checksum.Type
	Algorithm checksum.Algorithm
	Value     string
	Size      *int64
}

// checkType refuses a type that is not the upload's, in AWS's words.
func (c CompleteChecksum) checkType(u meta.Upload) error {
	if c.Type == "" {
		return nil
	}
	_, typ, declared := uploadChecksum(u)
	if !declared {
		return requestErrorf("The upload was not created with a checksum mode. The complete request must not include a x-amz-checksum-type header.")
	}
	if c.Type != typ {
		return requestErrorf("The upload was created using the %s checksum mode. The complete request must use the same checksum mode.", typ)
	}
	return nil
}

// checkPart compares the checksum the complete request names for part p
// with the stored one. A COMPOSITE upload's request must name every
// part's (AWS refuses otherwise with this message); a wrong one makes
// the part invalid, as a wrong ETag does.
func checkPart(u meta.Upload, w CompletedPart, p meta.Part) error {
	alg, typ, declared := uploadChecksum(u)
	if w.Checksum == "" {
		if declared && typ == checksum.Composite {
			return requestErrorf("The upload was created using a %s checksum. The complete request must include the checksum for each part. It was missing for part %d in the request.",
				strings.ToLower(string(alg)), w.Number)
		}
		return nil
	}
	if w.ChecksumAlgorithm != alg {
		if !declared {
			return nil // a claim checked on UploadPart; the part keeps CRC64NVME
		}
		return fmt.Errorf("%w: part %d has no %s checksum", ErrInvalidPart, w.Number, w.ChecksumAlgorithm)
	}
	if p.Checksum != "" && w.Checksum != p.Checksum {
		return fmt.Errorf("%w: part %d: %s checksum %s, uploaded %s", ErrInvalidPart, w.Number, alg, w.Checksum, p.Checksum)
	}
	return nil
}

// objectChecksum derives the object's checksum from its parts' without
// reading data: the checksum of their checksums for COMPOSITE, the
// combined CRC for FULL_OBJECT. A part without a checksum of the upload's
// algorithm (stored before nixbucket kept them) leaves the object without
// one. A value the request names must match.
func objectChecksum(u meta.Upload, parts []meta.Part, want CompleteChecksum) (checksum.Algorithm, string, error) {
	alg, typ, _ := uploadChecksum(u)
	sums := make([]checksum.Part, len(parts))
	for i, p := range parts {
		if !alg.Valid(p.Checksum) {
			return "", "", nil
		}
		sums[i] = checksum.Part{Sum: p.Checksum, Size: p.Size}
	}
	var v string
	var err error
	if typ == checksum.Composite {
		v, err = checksum.CompositeOf(alg, sums)
	} else {
		v, err = checksum.Combine(alg, sums)
	}
	if err != nil {
		return "", "", fmt.Errorf("upload %s: %w", u.ID, err)
	}
	if want.Value != "" && (want.Algorithm != alg || want.Value != v) {
		return "", "", mismatchError{want.Algorithm}
	}
	return alg, v, nil
}

// copyChecksum is the algorithm a copy keeps: the one the request names
// (x-amz-checksum-algorithm), else the source's, else the default.
// The copy is one part, so its checksum is FULL_OBJECT, computed over the
// bytes as they are copied, even from a COMPOSITE source (AWS, "Checking
// object integrity": CopyObject copies "as a single action ... With a copy
// command, the checksum of the object is a direct checksum of the full
// object").
func copyChecksum(src meta.Object, requested checksum.Algorithm) checksum.Algorithm {
	if requested != "" {
		return requested
	}
	if src.ChecksumAlgorithm != "" {
		return checksum.Algorithm(src.ChecksumAlgorithm)
	}
	return checksum.Default
}
