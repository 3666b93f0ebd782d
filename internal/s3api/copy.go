package s3api

import (
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/objects"
)

type copyObjectResult struct {
	XMLName      xml.Name `xml:"CopyObjectResult"`
	NS           string   `xml:"xmlns,attr"`
	LastModified string
	ETag         string
	objectChecksumXML
}

// copySource parses x-amz-copy-source: "[/]bucket/key[?versionId=…]",
// URL-encoded.
func copySource(v string) (bucket, key string, err error) {
	v, _, _ = strings.Cut(v, "?")
	v, err = url.PathUnescape(v)
	if err != nil {
		return "", "", errorf("InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	}
	bucket, key, ok := strings.Cut(strings.TrimPrefix(v, "/"), "/")
	if !ok || bucket == "" || key == "" {
		return "", "", errorf("InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	}
	return bucket, key, nil
}

// allowedCopySource is the source of a copy (CopyObject, UploadPartCopy),
// once the caller may read it (s3:GetObject) and write the target
// (s3:PutObject), and it names no version but null.
func allowedCopySource(q *request) (bucket, key string, err error) {
	bucket, key, err = copySource(q.Header.Get("x-amz-copy-source"))
	if err != nil {
		return "", "", err
	}
	if err := q.allow("s3:GetObject", "arn:aws:s3:::"+bucket+"/"+key); err != nil {
		return "", "", err
	}
	if err := q.allow("s3:PutObject", q.objectARN()); err != nil {
		return "", "", err
	}
	if err := sourceVersion(q); err != nil {
		return "", "", err
	}
	return bucket, key, nil
}

func copyObject(q *request) error {
	srcBucket, srcKey, err := allowedCopySource(q)
	if err != nil {
		return err
	}
	if err := checkKeyLength(q.key); err != nil {
		return err
	}
	cond, err := writeConditions(q)
	if err != nil {
		return err
	}
	in := objects.CopyInput{SrcBucket: srcBucket, SrcKey: srcKey, Bucket: q.bucket, Key: q.key, Cond: cond}
	if in.ChecksumAlgorithm, err = copyChecksumOf(q.Header); err != nil {
		return err
	}
	// x-amz-tagging applies with the REPLACE tagging directive only; COPY,
	// the default, keeps the source's tags.
	switch d := q.Header.Get("x-amz-tagging-directive"); d {
	case "", "COPY":
	case "REPLACE":
		in.ReplaceTags = true
	default:
		return errorf("InvalidArgument", "Unknown tagging directive.")
	}
	if in.Tags, err = objectWrite(q, in.ReplaceTags); err != nil {
		return err
	}
	switch d := q.Header.Get("x-amz-metadata-directive"); d {
	case "", "COPY":
	case "REPLACE":
		in.ReplaceHeaders = true
		if in.Headers, err = storedHeaders(q.Request); err != nil {
			return err
		}
	default:
		return errorf("InvalidArgument", "Unknown metadata directive.")
	}
	if srcBucket == q.bucket && srcKey == q.key && !in.ReplaceHeaders && !changesInPlace(q.Header) {
		return errorf("InvalidRequest", "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	in.SrcCond = sourceConditions(q)
	obj, err := q.h.Objects.Copy(q.Context(), in)
	if err != nil {
		return err
	}
	writeXML(q.w, http.StatusOK, copyObjectResult{NS: s3NS, LastModified: isoTime(obj.Modified), ETag: `"` + obj.ETag + `"`,
		objectChecksumXML: objectChecksumOf(obj)})
	return nil
}

// changesInPlace reports whether a copy of an object onto itself names a
// storage class or server-side encryption: S3 takes that as a change (the
// way to re-tier or re-encrypt objects, `aws s3 cp s3://b/k s3://b/k --sse
// AES256`), even when the value is the one the object has. nixbucket keeps
// every object as STANDARD under S3's default encryption, so the copy
// changes only its Last-Modified, as in S3.
func changesInPlace(h http.Header) bool {
	return h.Get("X-Amz-Storage-Class") != "" || h.Get("X-Amz-Server-Side-Encryption") != ""
}

type deleteRequest struct {
	XMLName xml.Name `xml:"Delete"`
	Quiet   bool
	Objects []struct {
		Key              string
		ETag             string `xml:",omitempty"`
		Version          string `xml:"VersionId"`
		Size             string `xml:",omitempty"`
		LastModifiedTime string `xml:",omitempty"`
	} `xml:"Object"`
}

type deleteResult struct {
	XMLName xml.Name        `xml:"DeleteResult"`
	NS      string          `xml:"xmlns,attr"`
	Deleted []deletedEntry  `xml:"Deleted"`
	Errors  []deleteErrItem `xml:"Error"`
}

type deletedEntry struct {
	Key       string
	VersionID string `xml:"VersionId,omitempty"`
}

type deleteErrItem struct {
	Key       string
	VersionID string `xml:"VersionId,omitempty"`
	Code      string
	Message   string
}

// maxDeleteKeys is AWS's limit for one DeleteObjects request.
const maxDeleteKeys = 1000

func deleteObjects(q *request) error {
	// The keys, which the real decisions need, are in the body: first
	// refuse, unread, a caller whom no policy could allow to delete
	// anything here. A bucket that does not exist has no policy, so an
	// anonymous caller gets the same refusal there as in a bucket that
	// exists and refuses.
	may, err := q.h.Access.MayAllowInBucket(q.Context(), q.id, "s3:DeleteObject", q.bucket)
	if errors.Is(err, access.ErrBadCredentials) || err == nil && !may {
		return errorf("AccessDenied", "")
	}
	if err != nil {
		return err
	}
	if err := q.h.Objects.NeedBucket(q.Context(), q.bucket); err != nil {
		return err
	}
	var req deleteRequest
	if err := readXML(q, &req); err != nil {
		return err
	}
	if len(req.Objects) == 0 || len(req.Objects) > maxDeleteKeys {
		return errorf("MalformedXML", "")
	}
	res := deleteResult{NS: s3NS}
	for _, o := range req.Objects {
		err := checkKeyLength(o.Key)
		if err == nil && o.Version != "" && o.Version != nullVersion {
			// As DeleteObject with such a versionId: the one version
			// there is must not go in its place.
			err = errorf("InvalidArgument", "Invalid version id specified")
		}
		if err == nil {
			err = q.allow("s3:DeleteObject", "arn:aws:s3:::"+q.bucket+"/"+o.Key)
		}
		var cond objects.Conditions
		if err == nil {
			cond, err = deleteConditions(o.ETag, o.Size, o.LastModifiedTime)
		}
		if err == nil {
			err = q.h.Objects.Delete(q.Context(), q.bucket, o.Key, cond)
		}
		if err != nil {
			e := q.h.toS3(err)
			if e == nil {
				q.h.log().Error("deleting object", "bucket", q.bucket, "key", o.Key, "err", err)
				e = errorf("InternalError", "")
			}
			res.Errors = append(res.Errors, deleteErrItem{Key: o.Key, VersionID: o.Version, Code: e.Code, Message: e.Message})
			continue
		}
		if !req.Quiet {
			res.Deleted = append(res.Deleted, deletedEntry{Key: o.Key, VersionID: o.Version})
		}
	}
	writeXML(q.w, http.StatusOK, res)
	return nil
}
