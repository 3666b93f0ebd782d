package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/nixbucket/nixbucket/internal/storage/s3store"
)

// S3Options adjust s3:// sources.
type S3Options struct {
	// Credentials, when set, replace the AWS default credential chain.
	Credentials aws.CredentialsProvider
}

// s3Source is a binary cache kept in an S3 bucket, read with signed
// requests: the private caches Nix builds without S3 support cannot read.
type s3Source struct {
	name   string
	bucket string
	prefix string
	client *s3.Client
	idle   time.Duration
}

// s3Config parses an s3:// upstream URL with the blob store's parser: the
// same parameters (region, endpoint, profile, scheme, addressing-style)
// mean the same things.
func s3Config(raw string) (s3store.Config, error) {
	c, err := s3store.ParseURL(raw)
	if err != nil {
		return c, fmt.Errorf("upstream %s", strings.TrimPrefix(err.Error(), "blob store "))
	}
	return c, nil
}

func newS3Source(ctx context.Context, raw string, opts SourceOptions) (Source, error) {
	cfg, err := s3Config(raw)
	if err != nil {
		return nil, err
	}
	t := opts.Timeouts.withDefaults()
	so := s3store.Options{Transport: func(tr *http.Transport) { setTimeouts(tr, t) }}
	if opts.S3 != nil {
		so.Credentials = opts.S3.Credentials
	}
	client, err := s3store.NewClient(ctx, cfg, so)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", raw, err)
	}
	name := "s3://" + cfg.Bucket + "/" + cfg.Prefix
	if cfg.Endpoint != "" {
		name += " at " + cfg.Endpoint
	}
	return &s3Source{name: name, bucket: cfg.Bucket, prefix: cfg.Prefix, client: client, idle: t.Idle}, nil
}

func (s *s3Source) Name() string { return s.name }

func (s *s3Source) Open(ctx context.Context, key string, rng *Range) (io.ReadCloser, int64, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "://") {
		return nil, 0, fmt.Errorf("upstream %s: key %q is not a relative path", s.name, key)
	}
	ctx, cancel := context.WithCancel(ctx)
	in := &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)}
	if rng != nil {
		in.Range = aws.String(rng.String())
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		cancel()
		if s3NotFound(err) {
			return nil, 0, fmt.Errorf("%s%s: %w", s.name, key, ErrNotFound)
		}
		return nil, 0, unavailable(s.name, fmt.Errorf("GET %s: %w", key, err))
	}
	size := aws.ToInt64(out.ContentLength)
	if rng != nil {
		// A store that ignored the Range answers 200 with the whole
		// object and no Content-Range: refused like a wrong one.
		if size, err = checkContentRange(aws.ToString(out.ContentRange), *rng); err != nil {
			out.Body.Close()
			cancel()
			return nil, 0, unavailable(s.name, fmt.Errorf("GET %s: %w", key, err))
		}
	}
	body := io.ReadCloser(newIdleBody(out.Body, s.name, s.idle, cancel))
	if rng == nil {
		return decoded(s.name, key, aws.ToString(out.ContentEncoding), body, size)
	}
	return body, size, nil
}

// s3NotFound reports whether err says the key is missing. A private
// bucket read without s3:ListBucket (the seed's reader policy) answers a
// missing key with 403 AccessDenied, so that counts as missing too; the
// 403s of wrong credentials (InvalidAccessKeyId, SignatureDoesNotMatch,
// expired tokens) do not, so a misconfigured upstream shows in the logs
// rather than looking empty.
func s3NotFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "AccessDenied":
			return true
		}
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}
