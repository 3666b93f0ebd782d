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
	"github.com/nixbucket/nixbucket/internal/stall"
)

// Error is an S3 error response.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// errorCode is what AWS answers with an error code: the HTTP status, and
// the message it sends when nothing more specific is said.
type errorCode struct {
	status  int
	message string
}

// errorCodes is the one table of S3 error codes nixbucket answers, with
// AWS's statuses and wording
// (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList).
// A code raised anywhere in the package must be here (TestErrorTable).
var errorCodes = map[string]errorCode{
	"AccessControlListNotSupported":        {http.StatusBadRequest, "The bucket does not allow ACLs"},
	"AccessDenied":                         {http.StatusForbidden, "Access Denied"},
	"AccessForbidden":                      {http.StatusForbidden, "CORSResponse: This CORS request is not allowed."},
	"AuthorizationHeaderMalformed":         {http.StatusBadRequest, "The authorization header is malformed."},
	"AuthorizationQueryParametersError":    {http.StatusBadRequest, "Query-string authentication parameters are malformed."},
	"BadRequest":                           {http.StatusBadRequest, "Bad Request"},
	"BadDigest":                            {http.StatusBadRequest, "The Content-MD5 you specified did not match what we received."},
	"BucketAlreadyExists":                  {http.StatusConflict, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."},
	"BucketAlreadyOwnedByYou":              {http.StatusConflict, "Your previous request to create the named bucket succeeded and you already own it."},
	"BucketNotEmpty":                       {http.StatusConflict, "The bucket you tried to delete is not empty"},
	"ConditionalRequestConflict":           {http.StatusConflict, "A conflicting operation occurred. If using PutObject you can retry the request. If using multipart upload you should initiate another CreateMultipartUpload request and re-upload each part."},
	"EntityTooLarge":                       {http.StatusBadRequest, "Your proposed upload exceeds the maximum allowed object size."},
	"EntityTooSmall":                       {http.StatusBadRequest, "Your proposed upload is smaller than the minimum allowed object size."},
	"ExpiredToken":                         {http.StatusBadRequest, "The provided token has expired."},
	"IllegalLocationConstraintException":   {http.StatusBadRequest, "The specified location-constraint is not valid"},
	"IncompleteBody":                       {http.StatusBadRequest, "You did not provide the number of bytes specified by the Content-Length HTTP header"},
	"InternalError":                        {http.StatusInternalServerError, "We encountered an internal error. Please try again."},
	"InvalidAccessKeyId":                   {http.StatusForbidden, "The AWS Access Key Id you provided does not exist in our records."},
	"InvalidArgument":                      {http.StatusBadRequest, "Invalid Argument"},
	"InvalidBucketName":                    {http.StatusBadRequest, "The specified bucket is not valid."},
	"InvalidDigest":                        {http.StatusBadRequest, "The Content-MD5 you specified is not valid."},
	"InvalidLocationConstraint":            {http.StatusBadRequest, "The specified location-constraint is not valid"},
	"InvalidPart":                          {http.StatusBadRequest, "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."},
	"InvalidPartOrder":                     {http.StatusBadRequest, "The list of parts was not in ascending order. Parts must be ordered by part number."},
	"InvalidPartNumber":                    {http.StatusRequestedRangeNotSatisfiable, "The requested partnumber is not satisfiable"},
	"InvalidRange":                         {http.StatusRequestedRangeNotSatisfiable, "The requested range is not satisfiable"},
	"InvalidRequest":                       {http.StatusBadRequest, "Invalid Request"},
	"InvalidStorageClass":                  {http.StatusBadRequest, "The storage class you specified is not valid"},
	"InvalidTag":                           {http.StatusBadRequest, "The tag provided was not a valid tag."},
	"KeyTooLongError":                      {http.StatusBadRequest, "Your key is too long"},
	"MalformedPolicy":                      {http.StatusBadRequest, "Policies must be valid JSON and the first byte must be '{'"},
	"MalformedTrailerError":                {http.StatusBadRequest, "The request contained trailing data that was not well-formed or did not conform to our published schema."},
	"MalformedXML":                         {http.StatusBadRequest, "The XML you provided was not well-formed or did not validate against our published schema."},
	"MaxMessageLengthExceeded":             {http.StatusBadRequest, "Your request was too big."},
	"MetadataTooLarge":                     {http.StatusBadRequest, "Your metadata headers exceed the maximum allowed metadata size."},
	"MethodNotAllowed":                     {http.StatusMethodNotAllowed, "The specified method is not allowed against this resource."},
	"MissingContentLength":                 {http.StatusLengthRequired, "You must provide the Content-Length HTTP header."},
	"MissingSecurityHeader":                {http.StatusBadRequest, "Your request is missing a required header."},
	"NoSuchBucket":                         {http.StatusNotFound, "The specified bucket does not exist"},
	"NoSuchBucketPolicy":                   {http.StatusNotFound, "The bucket policy does not exist"},
	"NoSuchCORSConfiguration":              {http.StatusNotFound, "The CORS configuration does not exist"},
	"NoSuchKey":                            {http.StatusNotFound, "The specified key does not exist."},
	"NoSuchLifecycleConfiguration":         {http.StatusNotFound, "The lifecycle configuration does not exist"},
	"NoSuchTagSet":                         {http.StatusNotFound, "The TagSet does not exist"},
	"NoSuchUpload":                         {http.StatusNotFound, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."},
	"NotImplemented":                       {http.StatusNotImplemented, "A header you provided implies functionality that is not implemented"},
	"ObjectLockConfigurationNotFoundError": {http.StatusNotFound, "Object Lock configuration does not exist for this bucket"},
	"PolicyTooLarge":                       {http.StatusBadRequest, "Policy exceeds the maximum allowed document size."},
	"PreconditionFailed":                   {http.StatusPreconditionFailed, "At least one of the pre-conditions you specified did not hold"},
	"RequestTimeTooSkewed":                 {http.StatusForbidden, "The difference between the request time and the current time is too large."},
	"RequestTimeout":                       {http.StatusBadRequest, "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed."},
	"ServiceUnavailable":                   {http.StatusServiceUnavailable, "Please reduce your request rate."},
	"SignatureDoesNotMatch":                {http.StatusForbidden, "The request signature we calculated does not match the signature you provided. Check your key and signing method."},
	"XAmzContentSHA256Mismatch":            {http.StatusBadRequest, "The provided 'x-amz-content-sha256' header does not match what was computed."},
	// A write refused for want of disk space. S3 has no such code (AWS
	// never fills up); an X-prefixed code is the convention for a
	// server's own, and 507 Insufficient Storage (RFC 4918) is the
	// status: clients treat it as a server error that a retry later may
	// cure.
	codeStorageFull: {http.StatusInsufficientStorage, "The server's disk is full: new writes are refused until space is freed. Reads and deletes still work."},
	// Only binary-cache clients get it (notacache.go).
	CodeNotACache: {http.StatusBadRequest, "This URL is no binary cache: each bucket is one, at /BUCKET."},
}

// codeStorageFull answers a write refused for want of disk space.
const codeStorageFull = "XNixbucketStorageFull"

// statusOf is the HTTP status of an error code: 400 outside the table.
func statusOf(code string) int {
	if c, ok := errorCodes[code]; ok {
		return c.status
	}
	return http.StatusBadRequest
}

func errorf(code, msg string) *Error {
	if msg == "" {
		msg = errorCodes[code].message
	}
	return &Error{Code: code, Message: msg}
}

// toS3 is the package's toS3, and answers an error that shows a backend
// unreachable (Unavailable) with 503 ServiceUnavailable naming it: a
// client retries it, and its user learns what failed.
func (h *Handler) toS3(err error) *Error {
	if e, ok := err.(*Error); ok { // most refusals: nothing to unwrap
		return e
	}
	// A backend that did not answer within the request's bound (a
	// stall.Bound deadline) is unavailable, not the client too slow.
	if h.Unavailable != nil && (errors.Is(err, stall.ErrNoProgress) || errors.Is(err, context.DeadlineExceeded)) {
		if what := h.Unavailable(err); what != "" {
			return errorf("ServiceUnavailable", what+" is unavailable; try again shortly")
		}
	}
	if e := toS3(err); e != nil {
		return e
	}
	if h.Unavailable != nil {
		if what := h.Unavailable(err); what != "" {
			return errorf("ServiceUnavailable", what+" is unavailable; try again shortly")
		}
	}
	return nil
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
		{objects.ErrConditionConflict, "ConditionalRequestConflict"},
		{meta.ErrPreconditionFailed, "PreconditionFailed"},
		{meta.ErrInvalidPart, "InvalidPart"},
		{meta.ErrNARMissing, "InvalidArgument"},
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
	XMLName xml.Name `xml:"Error"`
	Code    string
	Message string
	errorSubject
	Resource  string
	RequestID string `xml:"RequestId"`
	HostID    string `xml:"HostId"`
}

// errorSubject names what an error is about, as S3's error documents do
// (and SDKs hand to callers): the Key of NoSuchKey, the BucketName of the
// bucket errors, the UploadId of NoSuchUpload.
type errorSubject struct {
	Key        string `xml:",omitempty"`
	BucketName string `xml:",omitempty"`
	UploadID   string `xml:"UploadId,omitempty"`
}

// subjectOf is the subject of error code for request q. A copy's missing
// key or bucket may be its source's, so a copy names neither.
func subjectOf(q *request, code string) errorSubject {
	copying := q.Header.Get("X-Amz-Copy-Source") != ""
	switch code {
	case "NoSuchKey":
		if !copying {
			return errorSubject{Key: q.key}
		}
	case "NoSuchBucket":
		if !copying {
			return errorSubject{BucketName: q.bucket}
		}
	case "BucketNotEmpty", "BucketAlreadyOwnedByYou", "BucketAlreadyExists", "InvalidBucketName", "NoSuchBucketPolicy":
		return errorSubject{BucketName: q.bucket}
	case "NoSuchUpload":
		return errorSubject{UploadID: q.query.Get("uploadId")}
	}
	return errorSubject{}
}

// fail writes err for request q: S3 XML, or plain text on the binary-cache
// protocol, where an anonymous request refused in a bucket that grants
// anonymous callers nothing gets 401 with a Basic challenge, so Nix asks
// for credentials (netrc) instead of taking the path as missing. A bucket
// that grants anonymous reads keeps AWS's 403: newer Nix treats 401 as a
// hard error, so a public cache must not answer a missing path with it.
func (h *Handler) fail(q *request, err error) {
	e := h.toS3(err)
	if e != nil && (e.Code == "NoSuchBucket" || e.Code == "InvalidBucketName") && q.note != nil {
		q.note.NoBucket = true
	}
	if e != nil && e.Code == "NotImplemented" {
		h.logNotImplemented(q, e)
	}
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
		if perr == nil && q.Method == http.MethodPut {
			// A push that forgot its credentials, to a public cache: Nix
			// prints this body, so say what to do.
			h.writePlain(q, http.StatusForbidden, "AccessDenied", "anonymous callers may not write to "+q.bucket+
				": send credentials (Nix: --option netrc-file FILE, a line \"machine HOST login KEY_ID password SECRET\"; nixbucket info prints it)")
			return
		}
	}
	if !q.plain {
		var about errorSubject
		if e != nil {
			about = subjectOf(q, e.Code)
		}
		h.writeErrorAbout(q.w, q.Request, err, about)
		return
	}
	if e == nil {
		h.log().Error("request failed", "method", q.Method, "path", q.URL.Path, "err", err)
		e = errorf("InternalError", "")
	} else if e.Code == "ServiceUnavailable" {
		h.log().Error("server error", "code", e.Code, "method", q.Method, "path", q.URL.Path, "err", err)
	}
	h.writePlain(q, statusOf(e.Code), e.Code, e.Message)
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
	m := make(map[string][]string, len(errorCodes))
	for code := range errorCodes {
		m[code] = []string{code}
	}
	return m
}()

// writeError writes err as S3 XML (headers only for HEAD). Unknown errors
// are logged and answered as InternalError.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	h.writeErrorAbout(w, r, err, errorSubject{})
}

// writeErrorAbout is writeError naming the error's subject.
func (h *Handler) writeErrorAbout(w http.ResponseWriter, r *http.Request, err error, about errorSubject) {
	status, doc := h.errorDocument(w, r, err)
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	doc.errorSubject = about
	writeXML(w, status, doc)
}

// errorDocument is the HTTP status and the S3 error document of err, for
// a response on w. Unknown errors are logged and answered as
// InternalError, and server errors logged.
func (h *Handler) errorDocument(w http.ResponseWriter, r *http.Request, err error) (int, errorBody) {
	e := h.toS3(err)
	if e == nil {
		h.log().Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = errorf("InternalError", "")
	}
	status := statusOf(e.Code)
	if status >= 500 && e.Code != codeStorageFull && e.Code != "NotImplemented" { // diskspace logs a full disk once; fail logs 501s
		h.log().LogAttrs(r.Context(), slog.LevelError, "server error", slog.String("code", e.Code), slog.String("err", err.Error()))
	}
	return status, errorBody{
		Code: e.Code, Message: e.Message, Resource: r.URL.Path,
		RequestID: w.Header().Get("x-amz-request-id"), HostID: w.Header().Get("x-amz-id-2"),
	}
}

// writeXML writes v as an XML document with status.
func writeXML(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	enc := xml.NewEncoder(w)
	enc.Encode(v)
}
