package objects

import "context"

// BucketHook is an optional ability of a Hook: the layer above learns of
// every bucket the core creates, whichever protocol asked for it, so that
// it can set the bucket up (the binary cache gives it a signing key).
type BucketHook interface {
	// BucketCreated runs once the bucket was created. An error is
	// returned to the creator; the bucket stays.
	BucketCreated(ctx context.Context, bucket string) error
}

// bucketCreated tells the hook, if it wants to know, of a new bucket.
func (s *Service) bucketCreated(ctx context.Context, bucket string) error {
	if bh, ok := s.Hook.(BucketHook); ok {
		return bh.BucketCreated(ctx, bucket)
	}
	return nil
}
