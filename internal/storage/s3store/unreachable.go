package s3store

import (
	"errors"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Unreachable reports whether err says the store could not be reached or
// failed on its side (no connection, a connection cut, a 5xx answer), as
// opposed to a refusal of the request itself or a missing blob. The
// server answers those 503 instead of a bare internal error, so that a
// client knows to retry and an operator what failed.
func (b *Backend) Unreachable(err error) bool {
	if status(err) >= http.StatusInternalServerError || errors.Is(err, errNoAnswer) || errors.Is(err, errStoreFailed) {
		return true
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return false // the store answered, and not with a 5xx
	}
	var se *smithyhttp.RequestSendError
	if errors.As(err, &se) {
		return true
	}
	// Any other failure of a call (a send cut short that could not be
	// retried) but the caller's own cancellation.
	var oe *smithy.OperationError
	var ce *smithy.CanceledError
	return errors.As(err, &oe) && !errors.As(err, &ce)
}
