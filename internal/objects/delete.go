package objects

import (
	"context"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Delete removes an object. A missing key is not an error, as in S3.
func (s *Service) Delete(ctx context.Context, bucket, key string, cond Conditions) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	var check meta.Check
	if cond != (Conditions{}) {
		check = cond.check
	}
	var garbage []meta.Segment
	err := s.freeing(func() (err error) {
		garbage, err = s.Meta.DeleteObject(ctx, bucket, key, check)
		return err
	})
	s.forget(bucket, key)
	if err != nil {
		return err
	}
	s.discard(ctx, garbage)
	return nil
}
