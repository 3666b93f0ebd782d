package objects

import (
	"context"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// SetTags replaces the tags of the object under key (none removes them),
// leaving its bytes, ETag and modification time alone: meta.ErrNoSuchKey.
// The caller checks the tags against S3's limits.
func (s *Service) SetTags(ctx context.Context, bucket, key string, tags []meta.Tag) error {
	if err := ValidKey(key); err != nil {
		return err
	}
	err := s.Meta.SetObjectTags(ctx, bucket, key, tags)
	// The memo holds the object's record, tags included.
	s.forget(bucket, key)
	return err
}
