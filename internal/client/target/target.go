// Package target writes files into a binary cache: an S3 bucket (through
// aws-sdk-go-v2, with the default credential chain and multipart uploads),
// a plain-HTTP cache (PUT, with netrc or bearer credentials), or a local
// directory. Each backend turns its failures into errors that say what to
// do, and retries what may be retried, so that callers only see ErrNotFound
// or a final error.
package target

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"github.com/nixbucket/nixbucket/internal/client/spool"
	"github.com/nixbucket/nixbucket/internal/client/storeurl"
)

// ErrNotFound is returned by Get and Stat for a file the cache does not
// have. As in Nix, a read the cache refuses (HTTP 403) counts as missing.
var ErrNotFound = errors.New("not found in the cache")

// Meta describes an upload.
type Meta struct {
	ContentType     string
	ContentEncoding string // "" for none
	// Progress, if not nil, is told how many bytes of the body have been
	// sent, as they are sent (negative after a failed attempt that will be
	// retried); it may be called from several goroutines.
	Progress func(delta int64)
}

// Target is a binary cache to upload to. Its methods may be called
// concurrently.
type Target interface {
	// Get returns a small file (nix-cache-info), or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Stat returns the size of a file, or ErrNotFound.
	Stat(ctx context.Context, key string) (int64, error)
	// Put uploads f to key, replacing any file there. It either succeeds
	// or leaves no partial upload behind (when ctx ends, multipart uploads
	// in flight are aborted).
	Put(ctx context.Context, key string, f *spool.File, m Meta) error
	// String names the cache in messages.
	String() string
	// Close releases connections and state.
	Close() error
}

// PartSizer is implemented by targets that upload large files in parts and
// can hash them while they are spooled: PartSize returns the part size
// Put will use for a file of at most maxSize bytes, or 0 if it will upload
// it in one piece.
type PartSizer interface {
	PartSize(maxSize int64) int64
}

// Options are what Open needs besides the URL.
type Options struct {
	NetrcFile   string // http(s): netrc file; "" for $NETRC or ~/.netrc
	BearerToken string // http(s): sent as "Authorization: Bearer"; overrides netrc
	Concurrency int    // requests that may run at once (connection pool size)
	StateDir    string // s3: where the journal of multipart uploads lives
	// StallTimeout is how long a connection may move no byte while a
	// request is on it before the request fails and is retried; 0 for
	// DefaultStallTimeout, negative for none.
	StallTimeout time.Duration
	// Warn, if not nil, is told about conditions worth a user's attention
	// that do not stop the push (each at most once).
	Warn func(msg string)
}

// Open connects to the cache a store URL names. For s3:// it resolves
// credentials and checks the bucket, and aborts the multipart uploads that
// an earlier run of push left behind (see journal.go).
func Open(ctx context.Context, s *storeurl.Store, o Options) (Target, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	switch {
	case o.StallTimeout == 0:
		o.StallTimeout = DefaultStallTimeout
	case o.StallTimeout < 0:
		o.StallTimeout = 0
	}
	if o.Warn == nil {
		o.Warn = func(string) {}
	}
	switch s.Scheme {
	case storeurl.SchemeS3:
		return openS3(ctx, s, o)
	case storeurl.SchemeHTTP, storeurl.SchemeHTTPS:
		return openHTTP(s, o)
	case storeurl.SchemeFile:
		return openFile(s)
	}
	return nil, fmt.Errorf("target: unsupported scheme %q", s.Scheme)
}

// retryable marks an error worth another attempt.
type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

// Attempts and backoff for retried operations: 6 attempts over about 8 s.
const (
	attempts   = 6
	maxBackoff = 8 * time.Second
)

// baseBackoff is the first wait; a variable so that tests can shorten it.
var baseBackoff = 250 * time.Millisecond

// retryStatus reports whether an answer with this HTTP status is worth
// another attempt: a server error (5xx), 429 Too Many Requests or 408
// Request Timeout. It is push's one retry policy, with attempts and
// backoff: withRetry applies it to the HTTP target and to direct S3 PUTs,
// sdkRetryer to requests made through the AWS SDK.
func retryStatus(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
}

// sdkRetryer is the same policy for aws-sdk-go-v2: the SDK's standard
// retryer (network errors, throttling and transient error codes) with
// push's attempts and backoff, no client-side rate limit, and retryStatus
// checked first.
func sdkRetryer() aws.Retryer {
	return retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = attempts
		so.MaxBackoff = maxBackoff
		so.Backoff = retry.BackoffDelayerFunc(func(i int, _ error) (time.Duration, error) { return backoff(i), nil })
		so.RateLimiter = ratelimit.None // retry every failure, however many
		so.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(notRetryable), retry.IsErrorRetryableFunc(statusRetryable)}, so.Retryables...)
	})
}

// statusRetryable classifies an SDK error by the HTTP status of its answer.
func statusRetryable(err error) aws.Ternary {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && retryStatus(re.HTTPStatusCode()) {
		return aws.TrueTernary
	}
	return aws.UnknownTernary
}

// backoff returns the wait before attempt i (1-based retry count), with
// full jitter.
func backoff(i int) time.Duration {
	d := min(baseBackoff<<(i-1), maxBackoff)
	return d/2 + rand.N(d/2+1)
}

// withRetry calls fn until it succeeds, returns an error not marked
// retryable, ctx ends, or attempts run out. The final error is unwrapped
// from its retryable mark.
func withRetry(ctx context.Context, fn func() error) error {
	var err error
	for i := 1; ; i++ {
		err = fn()
		var r retryable
		if !errors.As(err, &r) {
			return err
		}
		if i == attempts {
			return fmt.Errorf("%w (gave up after %d attempts)", r.err, attempts)
		}
		t := time.NewTimer(backoff(i))
		select {
		case <-ctx.Done():
			t.Stop()
			return r.err
		case <-t.C:
		}
	}
}

// countingReader reports bytes read to a Progress callback.
type countingReader struct {
	r        io.Reader
	progress func(int64)
	n        int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 && c.progress != nil {
		c.n += int64(n)
		c.progress(int64(n))
	}
	return n, err
}

// undo takes back what an attempt reported, before a retry.
func (c *countingReader) undo() {
	if c.progress != nil && c.n > 0 {
		c.progress(-c.n)
	}
	c.n = 0
}
