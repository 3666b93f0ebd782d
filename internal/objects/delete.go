package objects

import (
	"context"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Delete removes an object. A missing key is not an error, as in S3.
func (s *Service) Delete(ctx context.Context, bucket, key string, cond Conditions) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	collect := cond.Collect
	cond.Collect = time.Time{}
	var check meta.Check
	if cond != (Conditions{}) {
		check = cond.check
	}
	var garbage []meta.Segment
	err := s.freeing(func() (err error) {
		if !collect.IsZero() {
			garbage, err = s.Meta.CollectObject(ctx, bucket, key, collect, check)
		} else {
			garbage, err = s.Meta.DeleteObject(ctx, bucket, key, check)
		}
		return err
	})
	s.forget(bucket, key)
	if err != nil {
		return err
	}
	s.discard(ctx, garbage)
	return nil
}
