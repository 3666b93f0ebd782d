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

// pruneBucket removes the bucket's pins, signing keys, objects and
// uploads the source lacks: all of them when the bucket is gone there.
func (c *Copier) pruneBucket(ctx context.Context, bucket string, gone bool) error {
	from, to := c.From.Meta, c.To.Meta
	var keepPins, keepKeys map[string]bool
	if !gone {
		pins, err := from.Pins(ctx, bucket)
		if err != nil {
			return err
		}
		keepPins = map[string]bool{}
		for _, p := range pins {
			keepPins[p.Name] = true
		}
		keys, err := from.SigningKeys(ctx, bucket)
		if err != nil {
			return err
		}
		keepKeys = map[string]bool{}
		for _, k := range keys {
			keepKeys[k.Name] = true
		}
	}
	pins, err := to.Pins(ctx, bucket)
	if err != nil {
		return err
	}
	for _, p := range pins {
		if !keepPins[p.Name] {
			if err := to.RemovePin(ctx, bucket, p.Name); err != nil && !errors.Is(err, meta.ErrNoSuchPin) {
				return fmt.Errorf("pin %s: %w", p.Name, err)
			}
			c.tally.add(true, "removed", 1)
		}
	}
	keys, err := to.SigningKeys(ctx, bucket)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if !keepKeys[k.Name] {
			if err := to.RemoveSigningKey(ctx, bucket, k.Name); err != nil && !errors.Is(err, meta.ErrNoSuchSigningKey) {
				return fmt.Errorf("signing key %s: %w", k.Name, err)
			}
			c.tally.add(true, "removed", 1)
		}
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
func (c *Copier) pruneIdentities(ctx context.Context) error {
	from, to := c.From.Meta, c.To.Meta
	tf, err := from.Tokens(ctx)
	if err != nil {
		return fmt.Errorf("migrate: reading the source's tokens: %w", err)
	}
	keepTokens := map[string]bool{}
	for _, t := range tf {
		keepTokens[t.ID] = true
	}
	tt, err := to.Tokens(ctx)
	if err != nil {
		return fmt.Errorf("migrate: reading the destination's tokens: %w", err)
	}
	for _, t := range tt {
		if !keepTokens[t.ID] {
			if err := to.DeleteToken(ctx, t.ID); err != nil && !errors.Is(err, meta.ErrNoSuchToken) {
				return fmt.Errorf("migrate: removing token %s: %w", t.ID, err)
			}
			c.tally.add(true, "removed", 1)
		}
	}
	kf, err := from.AccessKeys(ctx)
	if err != nil {
		return fmt.Errorf("migrate: reading the source's access keys: %w", err)
	}
	keepKeys := map[string]bool{}
	for _, k := range kf {
		keepKeys[k.ID] = true
	}
	kt, err := to.AccessKeys(ctx)
	if err != nil {
		return fmt.Errorf("migrate: reading the destination's access keys: %w", err)
	}
	for _, k := range kt {
		if !keepKeys[k.ID] {
			if err := to.DeleteAccessKey(ctx, k.ID); err != nil && !errors.Is(err, meta.ErrNoSuchAccessKey) {
				return fmt.Errorf("migrate: removing access key %s: %w", k.ID, err)
			}
			c.tally.add(true, "removed", 1)
		}
	}
	uf, err := from.Users(ctx)
	if err != nil {
		return fmt.Errorf("migrate: reading the source's users: %w", err)
	}
	keepUsers := map[string]bool{}
	for _, u := range uf {
		keepUsers[u.Name] = true
	}
	ut, err := to.Users(ctx)
	if err != nil {
		return fmt.Errorf("migrate: reading the destination's users: %w", err)
	}
	for _, u := range ut {
		if !keepUsers[u.Name] {
			if err := to.DeleteUser(ctx, u.Name); err != nil && !errors.Is(err, meta.ErrNoSuchUser) {
				return fmt.Errorf("migrate: removing user %s: %w", u.Name, err)
			}
			c.tally.add(true, "removed", 1)
		}
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
