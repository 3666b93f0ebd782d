package s3store

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
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
	if errors.As(err, &re) && re.HTTPStatusCode() != 0 {
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

// pingID is a blob ID no blob has (IDs are random): Ping's HEAD of it
// gets a 404 from a store that answers.
var pingID = strings.Repeat("0", idLen)

// Ping reports whether the store answers and accepts the node's
// credentials: a HEAD of a blob that does not exist, which a 404 passes
// and a 5xx, no answer before ctx ends, or a 403 fails (revoked keys,
// expired session credentials; a node's credentials may list the bucket,
// as its sweeps do, so a missing key is a 404 to them).
func (b *Backend) Ping(ctx context.Context) error {
	_, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(b.key(pingID))})
	if err != nil && (b.Unreachable(err) || ctx.Err() != nil || status(err) == http.StatusForbidden) {
		return fmt.Errorf("S3 store bucket %s: %w", b.cfg.Bucket, err)
	}
	return nil
}
