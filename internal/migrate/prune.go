package migrate

import (
	"context"
	"errors"
	"fmt"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Pruning (Copier.Delete): a run after the source deleted something
// (objects a GC collected, uploads completed or aborted, a revoked key or
// token, a removed user, pin, signing key or bucket) removes it from the
// destination too, so that the copy converges on the source and its check
// passes. It runs after the copy, so what it removes is only what the
// source no longer holds; it would also remove what servers on the
// destination wrote since an earlier run, hence the opt-in.

// prune removes from the destination what the source does not hold.
func (c *Copier) prune(ctx context.Context) error {
	from, to := c.From.Meta, c.To.Meta
	buckets, err := to.Buckets(ctx)
	if err != nil {
		return fmt.Errorf("migrate: reading the destination's buckets: %w", err)
	}
	for _, b := range buckets {
		_, err := from.Bucket(ctx, b.Name)
		gone := errors.Is(err, meta.ErrNoSuchBucket)
		if err != nil && !gone {
			return fmt.Errorf("migrate: bucket %s: %w", b.Name, err)
		}
		if err := c.pruneBucket(ctx, b.Name, gone); err != nil {
			return fmt.Errorf("migrate: removing from bucket %s: %w", b.Name, err)
		}
		if gone {
			if err := to.DeleteBucket(ctx, b.Name); err != nil {
				return fmt.Errorf("migrate: removing bucket %s: %w", b.Name, err)
			}
			c.tally.add(true, "removed", 1)
		}
	}
	return c.pruneIdentities(ctx)
}

// removeAbsent removes from the destination, with remove, each record
// of dst whose key no record of src has; gone (the store's "no such"
// error) from remove is no error: it is gone already.
func removeAbsent[T any](c *Copier, what string, src, dst []T, key func(T) string, remove func(name string) error, gone error) error {
	keep := map[string]bool{}
	for _, r := range src {
		keep[key(r)] = true
	}
	for _, r := range dst {
		name := key(r)
		if keep[name] {
			continue
		}
		if err := remove(name); err != nil && !errors.Is(err, gone) {
			return fmt.Errorf("removing %s %s: %w", what, name, err)
		}
		c.tally.add(true, "removed", 1)
	}
	return nil
}

// pruneBucket removes the bucket's pins, signing keys, objects and
// uploads the source lacks: all of them when the bucket is gone there.
func (c *Copier) pruneBucket(ctx context.Context, bucket string, gone bool) error {
	from, to := c.From.Meta, c.To.Meta
	var srcPins []meta.Pin
	var srcKeys []meta.SigningKey
	if !gone {
		var err error
		if srcPins, err = from.Pins(ctx, bucket); err != nil {
			return err
		}
		if srcKeys, err = from.SigningKeys(ctx, bucket); err != nil {
			return err
		}
	}
	pins, err := to.Pins(ctx, bucket)
	if err != nil {
		return err
	}
	err = removeAbsent(c, "pin", srcPins, pins, func(p meta.Pin) string { return p.Name },
		func(name string) error { return to.RemovePin(ctx, bucket, name) }, meta.ErrNoSuchPin)
	if err != nil {
		return err
	}
	keys, err := to.SigningKeys(ctx, bucket)
	if err != nil {
		return err
	}
	err = removeAbsent(c, "signing key", srcKeys, keys, func(k meta.SigningKey) string { return k.Name },
		func(name string) error { return to.RemoveSigningKey(ctx, bucket, name) }, meta.ErrNoSuchSigningKey)
	if err != nil {
		return err
	}
	err = scanKeys(ctx, to, bucket, func(keys []string) error {
		for _, key := range keys {
			if !gone {
				_, err := from.Object(ctx, bucket, key)
				if err == nil {
					continue
				}
				if !errors.Is(err, meta.ErrNoSuchKey) {
					return fmt.Errorf("object %s: %w", key, err)
				}
			}
			garbage, err := to.DeleteObject(ctx, bucket, key, nil)
			if err != nil {
				return fmt.Errorf("object %s: %w", key, err)
			}
			c.discard(ctx, garbage)
			c.tally.add(true, "removed", 1)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var stale []meta.Upload
	err = scanUploads(ctx, to, bucket, func(u meta.Upload) error {
		if !gone {
			_, err := from.Upload(ctx, bucket, u.Key, u.ID)
			if err == nil {
				return nil
			}
			if !errors.Is(err, meta.ErrNoSuchUpload) {
				return fmt.Errorf("upload %s of %s: %w", u.ID, u.Key, err)
			}
		}
		stale = append(stale, u)
		return nil
	})
	if err != nil {
		return err
	}
	for _, u := range stale {
		garbage, err := to.AbortUpload(ctx, bucket, u.Key, u.ID)
		if err != nil && !errors.Is(err, meta.ErrNoSuchUpload) {
			return fmt.Errorf("upload %s of %s: %w", u.ID, u.Key, err)
		}
		c.discard(ctx, garbage)
		c.tally.add(true, "removed", 1)
	}
	return nil
}

// pruneIdentities removes the tokens, access keys and users the source
// lacks: a key or token revoked there stops working on the destination.
// Users go last: a user's keys and tokens go first.
func (c *Copier) pruneIdentities(ctx context.Context) error {
	err := pruneAbsent(ctx, c, "token", meta.Store.Tokens, func(t meta.Token) string { return t.ID },
		meta.Store.DeleteToken, meta.ErrNoSuchToken)
	if err == nil {
		err = pruneAbsent(ctx, c, "access key", meta.Store.AccessKeys, func(k meta.AccessKey) string { return k.ID },
			meta.Store.DeleteAccessKey, meta.ErrNoSuchAccessKey)
	}
	if err == nil {
		err = pruneAbsent(ctx, c, "user", meta.Store.Users, func(u meta.User) string { return u.Name },
			meta.Store.DeleteUser, meta.ErrNoSuchUser)
	}
	return err
}

// pruneAbsent lists records of one kind (what) on both sides, and removes
// from the destination those the source lacks (removeAbsent).
func pruneAbsent[T any](ctx context.Context, c *Copier, what string, list func(meta.Store, context.Context) ([]T, error),
	key func(T) string, remove func(meta.Store, context.Context, string) error, gone error) error {
	src, err := list(c.From.Meta, ctx)
	if err != nil {
		return fmt.Errorf("migrate: reading the source's %ss: %w", what, err)
	}
	dst, err := list(c.To.Meta, ctx)
	if err != nil {
		return fmt.Errorf("migrate: reading the destination's %ss: %w", what, err)
	}
	err = removeAbsent(c, what, src, dst, key, func(name string) error { return remove(c.To.Meta, ctx, name) }, gone)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// discard deletes the destination's blobs that removing records left
// unreferenced. Without a destination blob store the blobs are the
// source's, which its own records and sweeps govern: they stay.
func (c *Copier) discard(ctx context.Context, garbage []meta.Segment) {
	if c.placer == nil {
		return
	}
	for _, g := range garbage {
		if g.Inline() {
			continue
		}
		// A blob left behind is swept by the destination's servers.
		_ = c.placer.Delete(ctx, g.Blob)
	}
}
