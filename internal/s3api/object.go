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
	if err := checkKeyLength(q.key); err != nil {
		return err
	}
	if err := needLength(q); err != nil {
		return err
	}
	tags, err := objectWrite(q, true)
	if err != nil {
		return err
	}
	cond, err := writeConditions(q)
	if err != nil {
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
		Headers: h, Tags: tags, Verify: v, Cond: cond,
		MayRead: func(key string) bool { return q.allow("s3:GetObject", "arn:aws:s3:::"+q.bucket+"/"+key) == nil },
	})
	if err != nil {
		return err
	}
	q.w.Header().Set("ETag", `"`+obj.ETag+`"`)
	setChecksumHeaders(q.w.Header(), obj)
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
	// The three headers every answer has share one backing array, and
	// the ETag and Last-Modified one string: two allocations, not five.
	vals := new([3]string)
	vals[0] = ct
	h["Content-Type"] = vals[0:1:1]
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
		h["x-amz-meta-"+strings.ToLower(k)] = []string{encodeUserMeta(v)}
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
	var buf [128]byte
	b := append(append(append(buf[:0], '"'), o.ETag...), '"')
	n := len(b)
	both := string(o.Modified.UTC().AppendFormat(b, http.TimeFormat))
	vals[1], vals[2] = both[:n], both[n:]
	h["Etag"] = vals[1:2:2]
	h["Last-Modified"] = vals[2:3:3]
	h["Accept-Ranges"] = acceptBytes
	h["Content-Security-Policy"] = sandboxed
	// x-amz-mp-parts-count only answers a ?partNumber request (see
	// sendObject), as AWS documents for GetObject and HeadObject.
}

var acceptBytes = []string{"bytes"} // read-only

// sandboxed is the Content-Security-Policy of every object served. An
// object is whatever its uploader made it, an HTML page or an SVG with
// script too, and it is served from the console's origin (/-/ui/): a
// browser that opens it runs it in an origin of its own, with no script,
// form or access to the session of whoever opened it. S3 clients and Nix
// ignore the header; a page that fetches objects under CORS is unaffected.
var sandboxed = []string{"sandbox; default-src 'none'; frame-ancestors 'none'"} // read-only

func headObject(q *request) error { return getOrHead(q) }
func getObject(q *request) error  { return getOrHead(q) }

// getOrHead answers GET and HEAD Object: it looks the object up, decides
// with planRead what to send (S3's rules, from the request and the
// object's record alone), and sends it with sendObject.
func getOrHead(q *request) error {
	if err := anonymousOverrides(q); err != nil {
		return err
	}
	readVersion(q)
	if err := q.allow("s3:GetObject", q.objectARN()); err != nil {
		return err
	}
	if err := noVersion(q); err != nil {
		return err
	}
	if done, err := redirectRead(q); done || err != nil {
		return err
	}
	var obj meta.Object
	var rd *objects.Reader
	var err error
	read := func() {
		if q.Method == http.MethodHead {
			obj, err = q.h.Objects.Head(q.Context(), q.bucket, q.key)
		} else {
			obj, rd, err = q.h.Objects.Get(q.Context(), q.bucket, q.key)
		}
	}
	read()
	if errors.Is(err, meta.ErrNoSuchKey) && pullNarinfo(q) {
		read() // pulled from upstream (pull.go)
	}
	if err != nil {
		if errors.Is(err, meta.ErrNoSuchKey) && q.key == cacheInfoKey && q.h.Nix != nil {
			return serveCacheInfo(q)
		}
		if done, err := missingCacheInfo(q, err); done {
			return err
		}
		if errors.Is(err, meta.ErrNoSuchKey) {
			if done, err := servePulledNAR(q); done {
				return err
			}
			if done, err := servePulledAux(q); done {
				return err
			}
		}
		miss := errors.Is(err, meta.ErrNoSuchKey)
		err = q.missing(err)
		if miss {
			offerMiss(q)
		}
		return err
	}
	if rd != nil {
		defer rd.Close()
	}
	if err := readEncryption(q.Header); err != nil {
		return err
	}
	objectHeaders(q.w, obj, q.query)
	taggingCount(q, obj)
	if q.h.Nix != nil {
		nixHeaders(q, obj)
	}
	plan, err := planRead(q.Header, q.query.Get("partNumber"), obj)
	if err != nil {
		return err
	}
	return sendObject(q, obj, rd, plan)
}

// readPlan is what a GET or HEAD sends, decided before anything is
// written.
type readPlan struct {
	notModified   bool   // 304: If-None-Match or If-Modified-Since matched
	partsCount    int    // for ?partNumber of a multipart object: its part count; else 0
	part          bool   // byteRange is a part's, not a Range the client sent
	partRange     string // the Content-Range of byteRange (a HEAD sends it too)
	partLength    int64  // and its length
	byteRange     string // the one range to serve ("bytes=…"), or "" for the whole object
	unsatisfiable bool   // the Range starts beyond the object: 416 InvalidRange
}

// planRead applies S3's rules to a GET or HEAD of obj with headers h and
// ?partNumber=part (or ""): the conditionals (412 PreconditionFailed is
// returned as an error), the part, and the Range, of which S3 serves one
// only, sending the whole object for several and for one it cannot parse.
// An empty object has no byte to start a range at (416, as for any range
// starting at or past the end), but its suffix of any length is its whole.
func planRead(h http.Header, part string, obj meta.Object) (readPlan, error) {
	var p readPlan
	rng := header(h, "Range")
	if part != "" && rng != "" {
		return p, errorf("InvalidRequest", "Cannot specify both Range header and partNumber query parameter")
	}
	switch evalConditions(h, obj) {
	case http.StatusNotModified:
		return readPlan{notModified: true}, nil
	case http.StatusPreconditionFailed:
		return p, errorf("PreconditionFailed", "")
	}
	if part != "" {
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 || n > objects.MaxParts {
			return p, errorf("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
		}
		// Part 1 of an object not uploaded in parts is the whole of it,
		// sent without a parts count.
		p.partsCount = obj.PartsCount
		if n > max(obj.PartsCount, 1) {
			return p, errorf("InvalidPartNumber", "")
		}
		if start, end := partBounds(obj, n); end > start { // an empty object has nothing to range over
			p.part = true
			p.byteRange = fmt.Sprintf("bytes=%d-%d", start, end-1)
			p.partRange = fmt.Sprintf("bytes %d-%d/%d", start, end-1, obj.Size)
			p.partLength = end - start
		}
		return p, nil
	}
	if rng == "" || !ifRangeHolds(header(h, "If-Range"), obj) {
		// RFC 9110: a Range whose If-Range fails gets the whole object,
		// for HEAD as for GET.
		return p, nil
	}
	start, end, ok := parseRange(rng, obj.Size)
	switch {
	case !ok: // several ranges or one AWS cannot parse: ignored
	case start >= obj.Size:
		p.unsatisfiable = true
	default:
		p.byteRange = fmt.Sprintf("bytes=%d-%d", start, end-1)
		p.partRange = fmt.Sprintf("bytes %d-%d/%d", start, end-1, obj.Size)
		p.partLength = end - start
	}
	return p, nil
}

// ifRangeHolds evaluates an If-Range header (RFC 9110, 13.1.5) against
// obj: true when absent, when it is obj's strong ETag, or when it is obj's
// Last-Modified exactly.
func ifRangeHolds(v string, obj meta.Object) bool {
	switch {
	case v == "":
		return true
	case strings.HasPrefix(v, `"`):
		return v == `"`+obj.ETag+`"`
	case strings.HasPrefix(v, "W/"):
		return false // a weak tag never matches for a range
	}
	t, err := http.ParseTime(v)
	return err == nil && obj.Modified.Truncate(time.Second).Equal(t)
}

// parseRange parses a Range header as S3 does: one "bytes=first-last",
// "bytes=first-" or "bytes=-suffix", digits only, no spaces. It returns
// the byte range [start, end) clipped to size, with start >= size for a
// range that starts beyond the object (416); ok is false for anything
// else, which S3 ignores, sending the whole object (a "bytes= -1" with a
// space, "bytes=--1", "bytes=5-3", several ranges), and for a suffix of
// an empty object, which S3 answers with the (empty) whole.
func parseRange(spec string, size int64) (start, end int64, ok bool) {
	s, found := strings.CutPrefix(spec, "bytes=")
	if !found {
		return 0, 0, false
	}
	first, last, found := strings.Cut(s, "-")
	if !found || !digits(first) || !digits(last) || first == "" && last == "" {
		return 0, 0, false
	}
	if first == "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		if n == 0 {
			return size, size, true // a zero-length suffix: unsatisfiable
		}
		if size == 0 {
			return 0, 0, false
		}
		return max(size-n, 0), size, true
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	end = size
	if last != "" {
		l, err := strconv.ParseInt(last, 10, 64)
		if err != nil || l < start {
			return 0, 0, false
		}
		end = min(l+1, size)
	}
	if start >= size {
		return start, start, true
	}
	return start, end, true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// sendObject writes the answer plan describes, after the object headers.
func sendObject(q *request, obj meta.Object, rd *objects.Reader, plan readPlan) error {
	h := q.w.Header()
	if plan.notModified {
		q.w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if plan.partsCount > 0 {
		h.Set("x-amz-mp-parts-count", strconv.Itoa(plan.partsCount))
	}
	if plan.unsatisfiable {
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(obj.Size, 10))
		return errorf("InvalidRange", "")
	}
	// The checksum is of the whole object: a range has none.
	if header(q.Header, "X-Amz-Checksum-Mode") == "ENABLED" && plan.byteRange == "" {
		setChecksumHeaders(h, obj)
	}
	if rd == nil { // HEAD: the headers a GET would send
		if plan.partRange != "" {
			h.Set("Content-Range", plan.partRange)
			h.Set("Content-Length", strconv.FormatInt(plan.partLength, 10))
			q.w.WriteHeader(http.StatusPartialContent)
			return nil
		}
		h.Set("Content-Length", strconv.FormatInt(obj.Size, 10))
		q.w.WriteHeader(http.StatusOK)
		return nil
	}
	if dec, err := decoded(q, obj, rd); dec || err != nil {
		return err
	}
	if data, ok := rd.Inline(); ok && plan.byteRange == "" {
		// A small object (a narinfo) in one write: ServeContent would
		// sniff, then send the headers with 512 bytes and the rest apart.
		h["Content-Length"] = []string{strconv.Itoa(len(data))}
		q.w.WriteHeader(http.StatusOK)
		q.w.Write(data)
		return nil
	}
	steerServeContent(q.Header, plan)
	serveContent(q.w, q.Request, rd.Content())
	return nil
}

// steerServeContent rewrites the request headers that http.ServeContent
// reads so that it carries out plan. ServeContent takes its Range and its
// conditionals from the request, with RFC 9110's rules; S3's differ (it
// serves one range only, a part is a range the client did not send, and
// planRead has already evaluated the conditionals and If-Range, so
// ServeContent must not answer 304 or 412 a second time, nor drop the
// range HEAD announced). What remains for ServeContent is the byte range.
func steerServeContent(h http.Header, plan readPlan) {
	for _, name := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range"} {
		h.Del(name)
	}
	if plan.byteRange == "" {
		h.Del("Range")
	} else {
		h.Set("Range", plan.byteRange)
	}
}

// partBounds returns the byte range [start, end) of part n (valid) of obj:
// a multipart object's segments are its parts, in order.
func partBounds(obj meta.Object, n int) (start, end int64) {
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
	// Only whether ListBucket is allowed matters, not why not: Authorize
	// directly, without allow's error value (a miss is the hot path).
	if errors.Is(err, meta.ErrNoSuchKey) && q.h.Access.Authorize(q.Context(), q.Request, q.id, "s3:ListBucket", q.bucketARN()) != nil {
		return errorf("AccessDenied", "")
	}
	return err
}

// evalConditions applies If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since in RFC 7232's order; it returns 0, 304 or 412.
func evalConditions(h http.Header, o meta.Object) int {
	mod := o.Modified.Truncate(time.Second)
	im := header(h, "If-Match")
	if im != "" && !objects.ETagIn(im, o.ETag, true) {
		return http.StatusPreconditionFailed
	}
	if ius := header(h, "If-Unmodified-Since"); im == "" && ius != "" {
		if t, err := http.ParseTime(ius); err == nil && mod.After(t) {
			return http.StatusPreconditionFailed
		}
	}
	inm := header(h, "If-None-Match")
	if inm != "" && objects.ETagIn(inm, o.ETag, false) {
		return http.StatusNotModified
	}
	if ims := header(h, "If-Modified-Since"); inm == "" && ims != "" {
		if t, ok := modifiedSince(ims); ok && !mod.After(t) {
			return http.StatusNotModified
		}
	}
	return 0
}

// modifiedSince parses an If-Modified-Since date (or x-amz-copy-source-'s).
// A date later than the server's clock is invalid and ignored, as one that
// does not parse (RFC 2616, 14.25; S3 and Apache ignore it too): 304 or
// 412 for it would answer "unchanged" to a client whose clock runs ahead.
func modifiedSince(v string) (time.Time, bool) {
	t, err := http.ParseTime(v)
	if err != nil || t.After(time.Now()) {
		return time.Time{}, false
	}
	return t, true
}

func deleteObject(q *request) error {
	if err := q.allow("s3:DeleteObject", q.objectARN()); err != nil {
		return err
	}
	if err := noVersion(q); err != nil {
		return err
	}
	if err := q.h.Objects.NeedBucket(q.Context(), q.bucket); err != nil {
		return err
	}
	cond, err := deleteConditions(q.Header.Get("If-Match"), q.Header.Get("X-Amz-If-Match-Size"), q.Header.Get("X-Amz-If-Match-Last-Modified-Time"))
	if err != nil {
		return err
	}
	if err := q.h.Objects.Delete(q.Context(), q.bucket, q.key, cond); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteConditions reads a conditional delete's If-Match, size and last
// modification time (DeleteObject's headers, or DeleteObjects' ETag, Size
// and LastModifiedTime of one key), each possibly empty. S3 documents the
// size and the time for directory buckets only; boto3 and the other SDKs
// send them to any bucket, and a delete that ignored them would remove
// what the caller meant to keep.
func deleteConditions(etag, size, modified string) (objects.Conditions, error) {
	c := objects.Conditions{IfMatch: etag}
	if size != "" {
		n, err := strconv.ParseInt(size, 10, 64)
		if err != nil || n < 0 {
			return c, errorf("InvalidArgument", "Invalid x-amz-if-match-size: "+size)
		}
		c.MatchSize = &n
	}
	if modified != "" {
		t, err := http.ParseTime(modified)
		if err != nil {
			t, err = time.Parse(time.RFC3339, modified)
		}
		if err != nil {
			return c, errorf("InvalidArgument", "Invalid x-amz-if-match-last-modified-time: "+modified)
		}
		c.MatchModified = t
	}
	return c, nil
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
