package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// copyBuckets creates the buckets (with their creation times) and copies
// what each is configured with: its policy, nix-cache-info settings,
// retention, lifecycle rules and signing keys.
func (c *Copier) copyBuckets(ctx context.Context) error {
	buckets, err := c.From.Meta.Buckets(ctx)
	if err != nil {
		return fmt.Errorf("migrate: reading the source's buckets: %w", err)
	}
	for _, b := range buckets {
		_, err := c.To.Meta.Bucket(ctx, b.Name)
		switch {
		case errors.Is(err, meta.ErrNoSuchBucket):
			if err := c.To.Meta.CreateBucket(ctx, b); err != nil {
				return fmt.Errorf("migrate: bucket %s: %w", b.Name, err)
			}
			c.tally.add(true, "buckets", 1)
		case err != nil:
			return fmt.Errorf("migrate: bucket %s: %w", b.Name, err)
		default:
			c.tally.add(false, "buckets", 1)
		}
		changed, err := c.copyBucketSettings(ctx, b.Name)
		if err != nil {
			return fmt.Errorf("migrate: bucket %s: %w", b.Name, err)
		}
		c.tally.add(changed, "bucket settings", 1)
		if err := c.copySigningKeys(ctx, b.Name); err != nil {
			return fmt.Errorf("migrate: bucket %s: %w", b.Name, err)
		}
	}
	return nil
}

// copyBucketSettings copies the bucket's policy, cache settings,
// retention and lifecycle rules where they differ; changed says whether
// any did.
func (c *Copier) copyBucketSettings(ctx context.Context, bucket string) (changed bool, err error) {
	from, to := c.From.Meta, c.To.Meta
	pf, err := bucketPolicy(ctx, from, bucket)
	if err != nil {
		return false, err
	}
	pt, err := bucketPolicy(ctx, to, bucket)
	if err != nil {
		return false, err
	}
	if !bytes.Equal(pf, pt) {
		if err := to.SetBucketPolicy(ctx, bucket, pf); err != nil {
			return false, fmt.Errorf("policy: %w", err)
		}
		changed = true
	}

	cf, err := from.CacheSettings(ctx, bucket)
	if err != nil {
		return false, fmt.Errorf("nix-cache-info settings: %w", err)
	}
	if ct, err := to.CacheSettings(ctx, bucket); err != nil {
		return false, fmt.Errorf("nix-cache-info settings: %w", err)
	} else if ct != cf {
		if err := to.SetCacheSettings(ctx, bucket, cf); err != nil {
			return false, fmt.Errorf("nix-cache-info settings: %w", err)
		}
		changed = true
	}

	rf, err := from.Retention(ctx, bucket)
	if err != nil {
		return false, fmt.Errorf("retention: %w", err)
	}
	if rt, err := to.Retention(ctx, bucket); err != nil {
		return false, fmt.Errorf("retention: %w", err)
	} else if rt != rf {
		if err := to.SetRetention(ctx, bucket, rf); err != nil {
			return false, fmt.Errorf("retention: %w", err)
		}
		changed = true
	}

	lf, err := from.LifecycleRules(ctx, bucket)
	if err != nil {
		return false, fmt.Errorf("lifecycle rules: %w", err)
	}
	if lt, err := to.LifecycleRules(ctx, bucket); err != nil {
		return false, fmt.Errorf("lifecycle rules: %w", err)
	} else if !slices.Equal(lt, lf) {
		if err := to.SetLifecycleRules(ctx, bucket, lf); err != nil {
			return false, fmt.Errorf("lifecycle rules: %w", err)
		}
		changed = true
	}
	return changed, nil
}

// bucketPolicy returns the bucket's policy, nil for none.
func bucketPolicy(ctx context.Context, s meta.Store, bucket string) ([]byte, error) {
	p, err := s.BucketPolicy(ctx, bucket)
	if errors.Is(err, meta.ErrNoSuchBucketPolicy) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return p, nil
}

// copySigningKeys adds the source's signing keys the destination lacks.
// The keys are what make the destination's nodes sign as the source did,
// so that clients trusting the old public keys trust the new nodes. A
// key of the same name with another secret is a conflict.
func (c *Copier) copySigningKeys(ctx context.Context, bucket string) error {
	kf, err := c.From.Meta.SigningKeys(ctx, bucket)
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	kt, err := c.To.Meta.SigningKeys(ctx, bucket)
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	have := map[string]meta.SigningKey{}
	for _, k := range kt {
		have[k.Name] = k
	}
	for _, k := range kf {
		h, ok := have[k.Name]
		switch {
		case !ok:
			if err := c.To.Meta.AddSigningKey(ctx, k); err != nil {
				return fmt.Errorf("signing key %s: %w", k.Name, err)
			}
			c.tally.add(true, "signing keys", 1)
		case h.Secret != k.Secret:
			return fmt.Errorf("signing key %s has another secret in the destination: %w", k.Name, ErrConflict)
		default:
			c.tally.add(false, "signing keys", 1)
		}
	}
	return nil
}

// copyAllPins copies every bucket's pins. It runs after the objects, since
// a pin may only name store paths of the bucket's narinfo index.
func (c *Copier) copyAllPins(ctx context.Context) error {
	buckets, err := c.From.Meta.Buckets(ctx)
	if err != nil {
		return fmt.Errorf("migrate: reading the source's buckets: %w", err)
	}
	for _, b := range buckets {
		if err := c.copyPins(ctx, b.Name); err != nil {
			return fmt.Errorf("migrate: pins of bucket %s: %w", b.Name, err)
		}
	}
	return nil
}

// copyPins copies a bucket's pins whole: a pin the destination has with
// other paths is removed and put again, since PutPin would merge the two.
func (c *Copier) copyPins(ctx context.Context, bucket string) error {
	pf, err := c.From.Meta.Pins(ctx, bucket)
	if err != nil {
		return err
	}
	pt, err := c.To.Meta.Pins(ctx, bucket)
	if err != nil {
		return err
	}
	have := map[string]meta.Pin{}
	for _, p := range pt {
		have[p.Name] = p
	}
	for _, p := range pf {
		h, ok := have[p.Name]
		if ok && samePin(h, p) {
			c.tally.add(false, "pins", 1)
			continue
		}
		if ok {
			if err := c.To.Meta.RemovePin(ctx, bucket, p.Name); err != nil {
				return fmt.Errorf("pin %s: %w", p.Name, err)
			}
		}
		if err := c.To.Meta.PutPin(ctx, p); err != nil {
			return fmt.Errorf("pin %s: %w", p.Name, err)
		}
		c.tally.add(true, "pins", 1)
	}
	return nil
}

func samePin(a, b meta.Pin) bool {
	return a.Keep == b.Keep && slices.Equal(a.Paths, b.Paths) && sameTime(a.Updated, b.Updated)
}
