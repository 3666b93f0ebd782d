package sigv4

import "errors"

// ErrUnknownKey is what a Lookup wraps when the access key id does not exist.
// Verify answers it as it answers a wrong secret, SignatureDoesNotMatch,
// after the same work, so neither the answer nor its time tells whether a
// key id exists.
var ErrUnknownKey = errors.New("unknown access key")

// S3 error codes returned in Error.Code. They are AWS's names, so the caller
// can use them as the <Code> of its XML error and pick the HTTP status from
// its own error table.
const (
	CodeAccessDenied                      = "AccessDenied"                      // 403
	CodeSignatureDoesNotMatch             = "SignatureDoesNotMatch"             // 403
	CodeInvalidAccessKeyID                = "InvalidAccessKeyId"                // 403
	CodeRequestTimeTooSkewed              = "RequestTimeTooSkewed"              // 403
	CodeAuthorizationHeaderMalformed      = "AuthorizationHeaderMalformed"      // 400
	CodeAuthorizationQueryParametersError = "AuthorizationQueryParametersError" // 400
	CodeInvalidArgument                   = "InvalidArgument"                   // 400
	CodeInvalidRequest                    = "InvalidRequest"                    // 400
	CodeIncompleteBody                    = "IncompleteBody"                    // 400
	CodeMalformedTrailer                  = "MalformedTrailerError"             // 400
	CodeNotImplemented                    = "NotImplemented"                    // 501
)

// Error is an authentication or aws-chunked decoding failure with the S3
// error code AWS answers in the same situation. Message is meant for the
// client (the <Message> of the XML error).
type Error struct {
	Code    string
	Message string
	// unknownKey marks the SignatureDoesNotMatch of a key id that does not
	// exist (see UnknownKey).
	unknownKey bool
}

// UnknownKey reports whether err is the failure of a request signed with
// an access key id that does not exist. Its client is answered as for a
// wrong secret (SignatureDoesNotMatch, same message); this tells the
// server's own counts apart.
func UnknownKey(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.unknownKey
}

// Error returns the code and the message.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

func newError(code, msg string) *Error { return &Error{Code: code, Message: msg} }

var (
	errSignatureMismatch = newError(CodeSignatureDoesNotMatch,
		"The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	// errUnknownKeyMismatch is errSignatureMismatch for a key id that does
	// not exist: the client cannot tell them apart.
	errUnknownKeyMismatch = &Error{Code: CodeSignatureDoesNotMatch, Message: errSignatureMismatch.Message, unknownKey: true}
	// errUnknownAccessKey marks a lookup that found no key; it never
	// leaves Verify.
	errUnknownAccessKey = newError(CodeInvalidAccessKeyID,
		"The AWS Access Key Id you provided does not exist in our records.")
	errSkewed = newError(CodeRequestTimeTooSkewed,
		"The difference between the request time and the current time is too large.")
	errNoDate = newError(CodeAccessDenied,
		"AWS authentication requires a valid Date or x-amz-date header")
	errExpired       = newError(CodeAccessDenied, "Request has expired")
	errNotYetValid   = newError(CodeAccessDenied, "Request is not valid yet")
	errTwoMechanisms = newError(CodeInvalidArgument,
		"Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
)
