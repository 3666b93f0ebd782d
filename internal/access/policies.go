package access

import (
	"context"
	"errors"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/policy"
)

// ErrMalformedPolicy is returned (wrapped, with the policy package's message
// naming the statement and field) for a policy document that does not
// validate.
var ErrMalformedPolicy = errors.New("malformed policy")

// SetBucketPolicy validates doc as a policy for bucket and stores it.
func (s *Service) SetBucketPolicy(ctx context.Context, bucket string, doc []byte) error {
	p, err := policy.ParseBucket(doc)
	if err == nil {
		err = p.CheckBucket(bucket)
	}
	if err == nil {
		err = p.CheckActions()
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedPolicy, err)
	}
	return s.store.SetBucketPolicy(ctx, bucket, doc)
}

// BucketPolicy returns a bucket's policy document.
func (s *Service) BucketPolicy(ctx context.Context, bucket string) ([]byte, error) {
	return s.store.BucketPolicy(ctx, bucket)
}

// DeleteBucketPolicy removes a bucket's policy.
func (s *Service) DeleteBucketPolicy(ctx context.Context, bucket string) error {
	return s.store.SetBucketPolicy(ctx, bucket, nil)
}

// ValidateIdentityPolicy checks doc as a user's or token's policy.
func ValidateIdentityPolicy(doc []byte) error {
	p, err := policy.ParseIdentity(doc)
	if err == nil {
		err = p.CheckActions()
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedPolicy, err)
	}
	return nil
}
