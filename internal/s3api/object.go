package s3api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

func conditions(r *http.Request) objects.Conditions {
	return objects.Conditions{IfMatch: header(r.Header, "If-Match"), IfNoneMatch: header(r.Header, "If-None-Match")}
}

func putObject(q *request) error {
	if err := q.allow("s3:PutObject", q.objectARN()); err != nil {
		return err
	}
	if err := needLength(q); err != nil {
		return err
	}
	h, err := storedHeaders(q.Request)
	if err != nil {
		return err
	}
	v, err := verifyOf(q)
	if err != nil {
		return err
	}
	obj, err := q.h.Objects.Put(q.Context(), objects.PutInput{
		Bucket: q.bucket, Key: q.key, Body: q.auth.Body, Size: declaredSize(q),
		Headers: h, Verify: v, Cond: conditions(q.Request),
		MayRead: func(key string) bool { return q.allow("s3:GetObject", "arn:aws:s3:::"+q.bucket+"/"+key) == nil },
	})
	if err != nil {
		return err
	}
	q.w.Header().Set("ETag", `"`+obj.ETag+`"`)
	if obj.ChecksumAlgorithm != "" {
		q.w.Header().Set("x-amz-checksum-"+strings.ToLower(obj.ChecksumAlgorithm), obj.Checksum)
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// needLength refuses a body of unknown length that is not chunked: S3
// wants Content-Length or aws-chunked framing.
func needLength(q *request) error {
	if q.auth.DecodedLength < 0 && len(q.TransferEncoding) == 0 {
		return errorf("MissingContentLength", "")
	}
	return nil
}

// responseOverrides are the response-* query parameters and the headers
// they replace.
var responseOverrides = []struct{ param, header string }{
	{"response-content-type", "Content-Type"},
	{"response-content-language", "Content-Language"},
	{"response-expires", "Expires"},
	{"response-cache-control", "Cache-Control"},
	{"response-content-disposition", "Content-Disposition"},
	{"response-content-encoding", "Content-Encoding"},
}

// anonymousOverrides refuses response-* overrides on an anonymous request,
// as S3 does: otherwise anybody could have public cache content served as
// text/html (or any type) from the cache's own origin.
func anonymousOverrides(q *request) error {
	if !q.id.Anonymous || len(q.query) == 0 {
		return nil
	}
	for _, o := range responseOverrides {
		if q.has(o.param) {
			return errorf("InvalidRequest", "Request specific response headers cannot be used for anonymous GET requests.")
		}
	}
	return nil
}

// objectHeaders writes the headers S3 returns for an object. It sets
// canonical keys directly: this runs on every narinfo served.
func objectHeaders(w http.ResponseWriter, o meta.Object, query url.Values) {
	h := w.Header()
	ct := o.Headers.ContentType
	if ct == "" {
		ct = "binary/octet-stream"
	}
	h["Content-Type"] = []string{ct}
	set := func(name, v string) {
		if v != "" {
			h[name] = []string{v}
		}
	}
	set("Content-Encoding", o.Headers.ContentEncoding)
	set("Content-Disposition", o.Headers.ContentDisposition)
	set("Content-Language", o.Headers.ContentLanguage)
	set("Cache-Control", o.Headers.CacheControl)
	set("Expires", o.Headers.Expires)
	// S3 sends user metadata names in lower case, and botocore keeps the
	// case it receives, so bypass net/http's canonical capitalisation.
	for k, v := range o.Headers.UserMeta {
		h["x-amz-meta-"+strings.ToLower(k)] = []string{v}
	}
	// Response overrides (response-content-type=...), honoured for
	// authenticated requests as S3 does.
	if len(query) > 0 {
		for _, o := range responseOverrides {
			if v := query.Get(o.param); v != "" {
				h.Set(o.header, v)
			}
		}
	}
	var buf [64]byte
	h["Etag"] = []string{string(append(append(append(buf[:0], '"'), o.ETag...), '"'))}
	h["Last-Modified"] = []string{string(o.Modified.UTC().AppendFormat(buf[:0], http.TimeFormat))}
	h["Accept-Ranges"] = acceptBytes
	if o.PartsCount > 0 {
		h.Set("x-amz-mp-parts-count", strconv.Itoa(o.PartsCount))
	}
}

var acceptBytes = []string{"bytes"} // read-only

func headObject(q *request) error { return getOrHead(q) }
func getObject(q *request) error  { return getOrHead(q) }

func getOrHead(q *request) error {
	if err := anonymousOverrides(q); err != nil {
		return err
	}
	if err := q.allow("s3:GetObject", q.objectARN()); err != nil {
		return err
	}
	var obj meta.Object
	var rd *objects.Reader
	var err error
	if q.Method == http.MethodHead {
		obj, err = q.h.Objects.Head(q.Context(), q.bucket, q.key)
	} else {
		obj, rd, err = q.h.Objects.Get(q.Context(), q.bucket, q.key)
	}
	if err != nil {
		if errors.Is(err, meta.ErrNoSuchKey) && q.key == "nix-cache-info" && q.h.Nix != nil {
			return serveCacheInfo(q)
		}
		return q.missing(err)
	}
	if rd != nil {
		defer rd.Close()
	}
	objectHeaders(q.w, obj, q.query)
	if q.h.Nix != nil {
		nixHeaders(q, obj)
	}
	if status := evalConditions(q.Request, obj); status != 0 {
		if status == http.StatusNotModified {
			q.w.WriteHeader(status)
			return nil
		}
		return errorf("PreconditionFailed", "")
	}
	part, err := partRange(q, obj)
	if err != nil {
		return err
	}
	ranges := header(q.Header, "Range")
	if ranges != "" && part == "" {
		if strings.Contains(ranges, ",") {
			// S3 serves no multi-range requests: it sends the whole object.
			q.Header.Del("Range")
		} else if !satisfiable(ranges, obj.Size) {
			q.w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(obj.Size, 10))
			return errorf("InvalidRange", "")
		}
	}
	if header(q.Header, "X-Amz-Checksum-Mode") == "ENABLED" && obj.ChecksumAlgorithm != "" && header(q.Header, "Range") == "" {
		q.w.Header().Set("x-amz-checksum-"+strings.ToLower(obj.ChecksumAlgorithm), obj.Checksum)
	}
	if rd == nil {
		if part != "" {
			start, end := partBounds(obj, q.query.Get("partNumber"))
			q.w.Header().Set("Content-Range", part)
			q.w.Header().Set("Content-Length", strconv.FormatInt(end-start, 10))
			q.w.WriteHeader(http.StatusPartialContent)
			return nil
		}
		q.w.Header().Set("Content-Length", strconv.FormatInt(obj.Size, 10))
		q.w.WriteHeader(http.StatusOK)
		return nil
	}
	if dec, err := decoded(q, obj, rd); dec || err != nil {
		return err
	}
	if data, ok := rd.Inline(); ok && header(q.Header, "Range") == "" {
		// A small object (a narinfo) in one write: ServeContent would
		// sniff, then send the headers with 512 bytes and the rest apart.
		q.w.Header()["Content-Length"] = []string{strconv.Itoa(len(data))}
		q.w.WriteHeader(http.StatusOK)
		q.w.Write(data)
		return nil
	}
	// Conditionals were evaluated above with S3's rules; ServeContent only
	// does the Range.
	for _, name := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		q.Header.Del(name)
	}
	http.ServeContent(q.w, q.Request, "", time.Time{}, rd.Content())
	return nil
}

// partRange handles ?partNumber=N on GET and HEAD: it returns the part's
// Content-Range value and points the request's Range at it, or "" when no
// part was asked for. A simple object has one part, the whole object.
func partRange(q *request, obj meta.Object) (string, error) {
	s := q.query.Get("partNumber")
	if s == "" {
		return "", nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > objects.MaxParts {
		return "", errorf("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
	}
	count := max(obj.PartsCount, 1)
	if n > count {
		return "", errorf("InvalidPartNumber", "")
	}
	q.w.Header().Set("x-amz-mp-parts-count", strconv.Itoa(count))
	start, end := partBounds(obj, s)
	if end == start {
		return "", nil // an empty object: nothing to range over
	}
	q.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, end-1))
	q.Header.Del("If-Range")
	return fmt.Sprintf("bytes %d-%d/%d", start, end-1, obj.Size), nil
}

// partBounds returns the byte range [start, end) of part s (valid) of obj:
// a multipart object's segments are its parts, in order.
func partBounds(obj meta.Object, s string) (start, end int64) {
	n, _ := strconv.Atoi(s)
	if obj.PartsCount == 0 {
		return 0, obj.Size
	}
	for i, seg := range obj.Segments {
		if i == n-1 {
			return start, start + seg.Size
		}
		start += seg.Size
	}
	return obj.Size, obj.Size
}

// missing turns a missing key into AWS's answer: NoSuchKey for callers
// that may list the bucket, AccessDenied for others.
func (q *request) missing(err error) error {
	if errors.Is(err, meta.ErrNoSuchKey) && q.allow("s3:ListBucket", q.bucketARN()) != nil {
		return errorf("AccessDenied", "")
	}
	return err
}

// evalConditions applies If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since in RFC 7232's order; it returns 0, 304 or 412.
func evalConditions(r *http.Request, o meta.Object) int {
	mod := o.Modified.Truncate(time.Second)
	im := header(r.Header, "If-Match")
	if im != "" && !etagIn(im, o.ETag) {
		return http.StatusPreconditionFailed
	}
	if ius := header(r.Header, "If-Unmodified-Since"); im == "" && ius != "" {
		if t, err := http.ParseTime(ius); err == nil && mod.After(t) {
			return http.StatusPreconditionFailed
		}
	}
	inm := header(r.Header, "If-None-Match")
	if inm != "" && etagIn(inm, o.ETag) {
		return http.StatusNotModified
	}
	if ims := header(r.Header, "If-Modified-Since"); inm == "" && ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !mod.After(t) {
			return http.StatusNotModified
		}
	}
	return 0
}

func etagIn(header, etag string) bool {
	for _, e := range strings.Split(header, ",") {
		e = strings.TrimPrefix(strings.TrimSpace(e), "W/")
		if e == "*" || strings.Trim(e, `"`) == etag {
			return true
		}
	}
	return false
}

// satisfiable reports whether a single "bytes=" range overlaps an object
// of size bytes. Malformed ranges count as satisfiable: S3 then ignores
// them and sends the whole object, as ServeContent does.
func satisfiable(spec string, size int64) bool {
	s, ok := strings.CutPrefix(strings.TrimSpace(spec), "bytes=")
	if !ok {
		return true
	}
	first, last, ok := strings.Cut(s, "-")
	if !ok {
		return true
	}
	if first == "" {
		n, err := strconv.ParseInt(last, 10, 64)
		return err != nil || n > 0 && size > 0
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil {
		return true
	}
	return start < size
}

func deleteObject(q *request) error {
	if err := q.allow("s3:DeleteObject", q.objectARN()); err != nil {
		return err
	}
	if _, err := q.h.Objects.Bucket(q.Context(), q.bucket); err != nil {
		return err
	}
	if err := q.h.Objects.Delete(q.Context(), q.bucket, q.key, objects.Conditions{IfMatch: q.Header.Get("If-Match")}); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// header is h.Get(name) for a name already in canonical form: the GET
// path reads several per request, and canonicalising each shows in
// profiles.
func header(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}
