package binarycache

import (
	"context"
	"fmt"
)

// EnsureSigningKey gives bucket a fresh signing key, named "<bucket>-1"
// (see NewSigningKey), unless it has one; it reports whether it made one.
// Every way a bucket is created (S3 CreateBucket, the first start, the
// admin CLI) ends here, so that every new bucket signs what is pushed to
// it.
func EnsureSigningKey(ctx context.Context, store KeyStore, bucket string) (bool, error) {
	keys, err := store.SigningKeys(ctx, bucket)
	if err != nil {
		return false, fmt.Errorf("signing keys of bucket %s: %w", bucket, err)
	}
	if len(keys) > 0 {
		return false, nil
	}
	if _, err := NewSigningKey(ctx, store, bucket, ""); err != nil {
		return false, fmt.Errorf("signing key for bucket %s: %w", bucket, err)
	}
	return true, nil
}

// BucketCreated gives a new bucket its signing key (objects.BucketHook),
// when Keys can store one (a KeyStore, as meta.Store is).
func (h *Hook) BucketCreated(ctx context.Context, bucket string) error {
	ks, ok := h.Keys.(KeyStore)
	if !ok {
		return nil
	}
	_, err := EnsureSigningKey(ctx, ks, bucket)
	return err
}
