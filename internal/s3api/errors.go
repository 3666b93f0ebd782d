package s3api

import (
	"context"
	"encoding/xml"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strconv"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/sigv4"
)

// Error is an S3 error response.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// errorStatus is the one table of S3 error codes and their HTTP statuses.
var errorStatus = map[string]int{
	"AccessDenied":                      http.StatusForbidden,
	"AuthorizationHeaderMalformed":      http.StatusBadRequest,
	"AuthorizationQueryParametersError": http.StatusBadRequest,
	"BadDigest":                         http.StatusBadRequest,
	"BucketAlreadyExists":               http.StatusConflict,
	"BucketAlreadyOwnedByYou":           http.StatusConflict,
	"BucketNotEmpty":                    http.StatusConflict,
	"EntityTooLarge":                    http.StatusBadRequest,
	"EntityTooSmall":                    http.StatusBadRequest,
	"ExpiredToken":                      http.StatusBadRequest,
	"IncompleteBody":                    http.StatusBadRequest,
	"InternalError":                     http.StatusInternalServerError,
	"InvalidAccessKeyId":                http.StatusForbidden,
	"InvalidArgument":                   http.StatusBadRequest,
	"InvalidBucketName":                 http.StatusBadRequest,
	"InvalidDigest":                     http.StatusBadRequest,
	"InvalidLocationConstraint":         http.StatusBadRequest,
	"InvalidPart":                       http.StatusBadRequest,
	"InvalidPartOrder":                  http.StatusBadRequest,
	"InvalidPartNumber":                 http.StatusRequestedRangeNotSatisfiable,
	"InvalidRange":                      http.StatusRequestedRangeNotSatisfiable,
	"InvalidRequest":                    http.StatusBadRequest,
	"KeyTooLongError":                   http.StatusBadRequest,
	"MalformedPolicy":                   http.StatusBadRequest,
	"MalformedXML":                      http.StatusBadRequest,
	"MaxMessageLengthExceeded":          http.StatusBadRequest,
	"MetadataTooLarge":                  http.StatusBadRequest,
	"MethodNotAllowed":                  http.StatusMethodNotAllowed,
	"MissingContentLength":              http.StatusLengthRequired,
	"MissingSecurityHeader":             http.StatusBadRequest,
	"NoSuchBucket":                      http.StatusNotFound,
	"NoSuchBucketPolicy":                http.StatusNotFound,
	"NoSuchKey":                         http.StatusNotFound,
	"NoSuchUpload":                      http.StatusNotFound,
	"NoSuchCORSConfiguration":           http.StatusNotFound,
	"NoSuchLifecycleConfiguration":      http.StatusNotFound,
	"NoSuchTagSet":                      http.StatusNotFound,
	"NotImplemented":                    http.StatusNotImplemented,
	"PolicyTooLarge":                    http.StatusBadRequest,
	"PreconditionFailed":                http.StatusPreconditionFailed,
	"RequestTimeTooSkewed":              http.StatusForbidden,
	"RequestTimeout":                    http.StatusBadRequest,
	"ServiceUnavailable":                http.StatusServiceUnavailable,
	"SignatureDoesNotMatch":             http.StatusForbidden,
	"XAmzContentSHA256Mismatch":         http.StatusBadRequest,
	codeStorageFull:                     http.StatusInsufficientStorage,

	// Tagging, ACLs and Object Lock (see tagging.go, acl.go,
	// writeheaders.go).
	"AccessControlListNotSupported":        http.StatusBadRequest,
	"BadRequest":                           http.StatusBadRequest,
	"InvalidTag":                           http.StatusBadRequest,
	"ObjectLockConfigurationNotFoundError": http.StatusNotFound,
}

// codeStorageFull answers a write refused for want of disk space. S3 has
// no such code (AWS never fills up); an X-prefixed code is the convention
// for a server's own, and 507 Insufficient Storage (RFC 4918) is the
// status: clients treat it as a server error that a retry later may cure.
const codeStorageFull = "XNixbucketStorageFull"

// defaultMessage gives AWS's wording for codes raised without detail.
var defaultMessage = map[string]string{
	"AccessDenied":              "Access Denied",
	"BadDigest":                 "The Content-MD5 you specified did not match what we received.",
	"BucketAlreadyOwnedByYou":   "Your previous request to create the named bucket succeeded and you already own it.",
	"BucketNotEmpty":            "The bucket you tried to delete is not empty",
	"EntityTooSmall":            "Your proposed upload is smaller than the minimum allowed object size.",
	"EntityTooLarge":            "Your proposed upload exceeds the maximum allowed object size.",
	"IncompleteBody":            "You did not provide the number of bytes specified by the Content-Length HTTP header",
	"InternalError":             "We encountered an internal error. Please try again.",
	"InvalidBucketName":         "The specified bucket is not valid.",
	"InvalidDigest":             "The Content-MD5 you specified is not valid.",
	"InvalidPart":               "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
	"InvalidPartOrder":          "The list of parts was not in ascending order. Parts must be ordered by part number.",
	"InvalidPartNumber":         "The requested partnumber is not satisfiable",
	"InvalidRange":              "The requested range is not satisfiable",
	"KeyTooLongError":           "Your key is too long",
	"MalformedXML":              "The XML you provided was not well-formed or did not validate against our published schema.",
	"MethodNotAllowed":          "The specified method is not allowed against this resource.",
	"MissingContentLength":      "You must provide the Content-Length HTTP header.",
	"NoSuchBucket":              "The specified bucket does not exist",
	"NoSuchBucketPolicy":        "The bucket policy does not exist",
	"NoSuchKey":                 "The specified key does not exist.",
	"NoSuchUpload":              "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
	"NotImplemented":            "A header or query you provided implies functionality that is not implemented.",
	"PreconditionFailed":        "At least one of the pre-conditions you specified did not hold",
	"XAmzContentSHA256Mismatch": "The provided 'x-amz-content-sha256' header does not match what was computed.",
	codeStorageFull:             "The server's disk is full: new writes are refused until space is freed. Reads and deletes still work.",

	"ObjectLockConfigurationNotFoundError": "Object Lock configuration does not exist for this bucket",
}

func errorf(code, msg string) *Error {
	if msg == "" {
		msg = defaultMessage[code]
	}
	return &Error{Code: code, Message: msg}
}

// toS3 maps an error from any layer to an S3 error.
func toS3(err error) *Error {
	if e, ok := err.(*Error); ok { // most refusals: no errors.As target to allocate
		return e
	}
	if errors.Is(err, meta.ErrNoSuchKey) { // the binary cache's most common answer: first
		return errorf("NoSuchKey", "")
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var se *sigv4.Error
	if errors.As(err, &se) {
		return errorf(se.Code, se.Message)
	}
	var re *objects.RequestError
	if errors.As(err, &re) {
		return errorf("InvalidRequest", re.Message)
	}
	table := []struct {
		err  error
		code string
	}{
		{meta.ErrNoSuchBucket, "NoSuchBucket"},
		{meta.ErrNoSuchKey, "NoSuchKey"},
		{meta.ErrNoSuchUpload, "NoSuchUpload"},
		{meta.ErrNoSuchBucketPolicy, "NoSuchBucketPolicy"},
		{meta.ErrBucketExists, "BucketAlreadyOwnedByYou"},
		{meta.ErrBucketNotEmpty, "BucketNotEmpty"},
		{meta.ErrPreconditionFailed, "PreconditionFailed"},
		{meta.ErrInvalidPart, "InvalidPart"},
		{objects.ErrInvalidBucketName, "InvalidBucketName"},
		{objects.ErrKeyTooLong, "KeyTooLongError"},
		{objects.ErrInvalidKey, "InvalidArgument"},
		{objects.ErrBadDigest, "BadDigest"},
		{objects.ErrSHA256Mismatch, "XAmzContentSHA256Mismatch"},
		{objects.ErrChecksumMismatch, "BadDigest"},
		{objects.ErrIncompleteBody, "IncompleteBody"},
		{objects.ErrEntityTooLarge, "EntityTooLarge"},
		{objects.ErrEntityTooSmall, "EntityTooSmall"},
		{objects.ErrInvalidPartOrder, "InvalidPartOrder"},
		{objects.ErrTooManyParts, "InvalidArgument"},
		{objects.ErrInvalidArgument, "InvalidArgument"},
		{objects.ErrRejected, "InvalidArgument"},
	}
	if objects.IsStorageFull(err) {
		return errorf(codeStorageFull, "")
	}
	for _, t := range table {
		if errors.Is(err, t.err) {
			msg := ""
			switch t.code {
			case "InvalidBucketName", "InvalidArgument", "EntityTooSmall", "KeyTooLongError", "IncompleteBody", "EntityTooLarge":
				msg = err.Error()
			case "BadDigest":
				if errors.Is(err, objects.ErrChecksumMismatch) {
					msg = err.Error()
				}
			}
			return errorf(t.code, msg)
		}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errorf("RequestTimeout", "Your socket connection to the server was not read from or written to within the timeout period.")
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf("MaxMessageLengthExceeded", "Your request was too big.")
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return errorf("RequestTimeout", "Your socket connection to the server was not read from or written to within the timeout period.")
	}
	return nil
}

type errorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string
	Message   string
	Resource  string `xml:",omitempty"`
	RequestID string `xml:"RequestId"`
	HostID    string `xml:"HostId"`
}

// fail writes err for request q: S3 XML, or plain text on the binary-cache
// protocol, where an anonymous request refused in a bucket that grants
// anonymous callers nothing gets 401 with a Basic challenge, so Nix asks
// for credentials (netrc) instead of taking the path as missing. A bucket
// that grants anonymous reads keeps AWS's 403: newer Nix treats 401 as a
// hard error, so a public cache must not answer a missing path with it.
func (h *Handler) fail(q *request, err error) {
	e := toS3(err)
	if e != nil && e.Code == codeStorageFull {
		h.refuseFull(q, e)
		return
	}
	if e != nil && e.Code == "AccessDenied" && q.plain && q.id.Anonymous && q.bucket != "" && q.key != "" {
		public, perr := h.Access.GrantsAnonymous(q.Context(), q.bucket)
		if perr == nil && !public {
			q.w.Header().Set("WWW-Authenticate", `Basic realm="nixbucket"`)
			h.writePlain(q, http.StatusUnauthorized, "Unauthorized", "credentials required")
			return
		}
	}
	if !q.plain {
		h.writeError(q.w, q.Request, err)
		return
	}
	if e == nil {
		h.log().Error("request failed", "method", q.Method, "path", q.URL.Path, "err", err)
		e = errorf("InternalError", "")
	}
	status, ok := errorStatus[e.Code]
	if !ok {
		status = http.StatusBadRequest
	}
	h.writePlain(q, status, e.Code, e.Message)
}

// writePlain writes a plain-text error: "404 NoSuchKey: message".
func (h *Handler) writePlain(q *request, status int, code, msg string) {
	hdr := q.w.Header()
	hdr["Content-Type"] = plainText
	if v, ok := codeHeaders[code]; ok {
		hdr["X-Nixbucket-Error"] = v
	} else {
		hdr["X-Nixbucket-Error"] = []string{code}
	}
	q.w.WriteHeader(status)
	if q.Method != http.MethodHead {
		b := make([]byte, 0, 64+len(msg))
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(append(append(append(append(b, ' '), code...), ": "...), msg...), '\n')
		q.w.Write(b)
	}
}

var plainText = []string{"text/plain; charset=utf-8"} // read-only

// codeHeaders holds the X-Nixbucket-Error value of each known code, made
// once (read-only): a refusal's answer allocates no header slice.
var codeHeaders = func() map[string][]string {
	m := make(map[string][]string, len(errorStatus))
	for code := range errorStatus {
		m[code] = []string{code}
	}
	return m
}()

// writeError writes err as S3 XML (headers only for HEAD). Unknown errors
// are logged and answered as InternalError.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := toS3(err)
	if e == nil {
		h.log().Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = errorf("InternalError", "")
	}
	status, ok := errorStatus[e.Code]
	if !ok {
		status = http.StatusBadRequest
	}
	if status >= 500 && e.Code != codeStorageFull { // diskspace logs a full disk once
		h.log().LogAttrs(r.Context(), slog.LevelError, "server error", slog.String("code", e.Code), slog.String("err", err.Error()))
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	writeXML(w, status, errorBody{
		Code: e.Code, Message: e.Message, Resource: r.URL.Path,
		RequestID: w.Header().Get("x-amz-request-id"), HostID: w.Header().Get("x-amz-id-2"),
	})
}

// writeXML writes v as an XML document with status.
func writeXML(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	enc := xml.NewEncoder(w)
	enc.Encode(v)
}
