package s3api

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// S3's limits on object tags (Amazon S3 User Guide, "Categorizing your
// storage using tags"): at most 10 per object, keys of 1 to 128 and values
// of 0 to 256 Unicode characters, keys unique and not in AWS's own aws:
// namespace.
const (
	maxTags        = 10
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

type tagging struct {
	XMLName xml.Name `xml:"Tagging"`
	NS      string   `xml:"xmlns,attr,omitempty"`
	TagSet  []tagXML `xml:"TagSet>Tag"`
}

type tagXML struct {
	Key   string
	Value string
}

// validTags checks tags against S3's limits, with AWS's codes and words:
// too many is BadRequest, anything else about a tag InvalidTag (as the
// conformance suites run against AWS expect).
func validTags(tags []meta.Tag) error {
	if len(tags) > maxTags {
		return errorf("BadRequest", "Object tags cannot be greater than 10")
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		switch {
		case utf8.RuneCountInString(t.Key) > maxTagKeyLen:
			return errorf("InvalidTag", "The TagKey you have provided is too long, max 128")
		case utf8.RuneCountInString(t.Value) > maxTagValueLen:
			return errorf("InvalidTag", "The TagValue you have provided is too long, max 256")
		case t.Key == "" || !tagChars(t.Key):
			return errorf("InvalidTag", "The TagKey you have provided is invalid")
		case strings.HasPrefix(t.Key, "aws:"):
			return errorf("InvalidTag", "Your TagKey cannot be prefixed with aws:")
		case !tagChars(t.Value):
			return errorf("InvalidTag", "The TagValue you have provided is invalid")
		case seen[t.Key]:
			return errorf("InvalidTag", "Cannot provide multiple Tags with the same key")
		}
		seen[t.Key] = true
	}
	return nil
}

// tagChars reports whether s holds only what tags may: letters, digits,
// white space and + - = . _ : / @ (the tag restrictions of the AWS
// Billing User Guide, which S3 refers to), as valid UTF-8.
func tagChars(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), unicode.IsSpace(r), unicode.IsMark(r):
		case r == '+' || r == '-' || r == '=' || r == '.' || r == '_' || r == ':' || r == '/' || r == '@':
		default:
			return false
		}
	}
	return true
}

// headerTags reads the x-amz-tagging header of PutObject, CopyObject
// (with the REPLACE directive) and CreateMultipartUpload: URL query
// encoding, "k1=v1&k2=v2". ok is false without the header.
func headerTags(q *request) (tags []meta.Tag, ok bool, err error) {
	v, ok := q.Header["X-Amz-Tagging"]
	if !ok {
		return nil, false, nil
	}
	bad := errorf("InvalidArgument", "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
	if len(v) != 1 {
		return nil, true, bad
	}
	seen := map[string]bool{}
	for s := v[0]; s != ""; {
		var pair string
		pair, s, _ = strings.Cut(s, "&")
		if pair == "" {
			continue
		}
		k, val, _ := strings.Cut(pair, "=")
		key, err1 := url.QueryUnescape(k)
		value, err2 := url.QueryUnescape(val)
		if err1 != nil || err2 != nil || seen[key] {
			return nil, true, bad
		}
		seen[key] = true
		tags = append(tags, meta.Tag{Key: key, Value: value})
	}
	if err := validTags(tags); err != nil {
		return nil, true, err
	}
	return tags, true, nil
}

// allowTagging authorizes the tags a write sets: AWS asks for
// s3:PutObjectTagging, besides s3:PutObject, of a PutObject,
// CopyObject or CreateMultipartUpload that tags the object.
func (q *request) allowTagging(tags []meta.Tag) error {
	if len(tags) == 0 {
		return nil
	}
	return q.allow("s3:PutObjectTagging", q.objectARN())
}

func getObjectTagging(q *request) error {
	if err := q.allow("s3:GetObjectTagging", q.objectARN()); err != nil {
		return err
	}
	if err := noVersion(q); err != nil {
		return err
	}
	obj, err := q.h.Objects.Head(q.Context(), q.bucket, q.key)
	if err != nil {
		return q.missing(err)
	}
	res := tagging{NS: s3NS, TagSet: []tagXML{}}
	for _, t := range obj.Tags {
		res.TagSet = append(res.TagSet, tagXML{Key: t.Key, Value: t.Value})
	}
	writeXML(q.w, http.StatusOK, res)
	return nil
}

func putObjectTagging(q *request) error {
	if err := q.allow("s3:PutObjectTagging", q.objectARN()); err != nil {
		return err
	}
	if err := noVersion(q); err != nil {
		return err
	}
	var req tagging
	if err := readXML(q, &req); err != nil {
		return err
	}
	tags := make([]meta.Tag, 0, len(req.TagSet))
	for _, t := range req.TagSet {
		tags = append(tags, meta.Tag{Key: t.Key, Value: t.Value})
	}
	if err := validTags(tags); err != nil {
		return err
	}
	if err := q.h.Objects.SetTags(q.Context(), q.bucket, q.key, tags); err != nil {
		return q.missing(err)
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func deleteObjectTagging(q *request) error {
	if err := q.allow("s3:DeleteObjectTagging", q.objectARN()); err != nil {
		return err
	}
	if err := noVersion(q); err != nil {
		return err
	}
	if err := q.h.Objects.SetTags(q.Context(), q.bucket, q.key, nil); err != nil {
		return q.missing(err)
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// taggingCount sets x-amz-tagging-count on a GET or HEAD of obj, for a
// caller who may read its tags (AWS sends it "when you have the relevant
// permission to read object tags", GetObject's API reference). Untagged
// objects, most of them, cost nothing.
func taggingCount(q *request, obj meta.Object) {
	if len(obj.Tags) == 0 || q.allow("s3:GetObjectTagging", q.objectARN()) != nil {
		return
	}
	q.w.Header().Set("x-amz-tagging-count", strconv.Itoa(len(obj.Tags)))
}
