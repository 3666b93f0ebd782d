package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Moving the blobs alone (To.Meta nil): an embedded install keeps its
// SQLite metadata and puts its blobs in an S3 store (`serve --data DIR
// --blobs s3://…`). The records name blobs by ID and the blobs keep
// their IDs, so the metadata needs no change: every blob an object or an
// upload part names is copied, then checked.

// runBlobs copies and verifies the blobs of From.Meta's records into
// To.Blobs.
func (c *Copier) runBlobs(ctx context.Context) (*Report, error) {
	if c.placer == nil {
		return nil, fmt.Errorf("migrate: with no destination metadata store, a destination blob store is needed")
	}
	c.prog.linef("blobs of objects")
	if _, err := c.eachSegment(ctx, "copying", func(ctx context.Context, seg meta.Segment, of string) error {
		return c.copyBlob(ctx, seg, of)
	}); err != nil {
		return nil, err
	}
	rep := &Report{}
	rep.Copied, rep.Present = c.tally.snapshot()
	c.prog.linef("verifying the copy")
	v := &verifier{c: c}
	n, err := c.eachSegment(ctx, "verifying", v.blob)
	rep.Verified = Verified{
		Buckets: n.buckets, Objects: n.objects.Load(), Uploads: n.uploads, Parts: n.parts,
		Blobs: v.blobs.Load(), BlobBytes: v.blobBytes.Load(), Hashed: c.Hashes, Differences: int64(v.count),
	}
	if err != nil {
		return rep, fmt.Errorf("migrate: verifying: %w", err)
	}
	if v.count > 0 {
		return rep, fmt.Errorf("migrate: %d blobs differ between the source and the destination after copying:\n  %s\n%w",
			v.count, strings.Join(v.problems, "\n  "), ErrMismatch)
	}
	return rep, nil
}

// segmentCounts counts what eachSegment went through.
type segmentCounts struct {
	buckets, uploads, parts int64
	objects                 atomic.Int64
}

// eachSegment calls fn on every segment of every object (c.Jobs objects
// at a time) and every upload part of the source, bucket by bucket.
func (c *Copier) eachSegment(ctx context.Context, doing string, fn func(ctx context.Context, seg meta.Segment, of string) error) (*segmentCounts, error) {
	v := &segmentCounts{}
	buckets, err := c.From.Meta.Buckets(ctx)
	if err != nil {
		return v, fmt.Errorf("migrate: reading the source's buckets: %w", err)
	}
	for _, b := range buckets {
		total, err := countObjects(ctx, c.From.Meta, b.Name)
		if err != nil {
			return v, fmt.Errorf("migrate: bucket %s: %w", b.Name, err)
		}
		c.prog.linef("%s the blobs of bucket %s: %d objects", doing, b.Name, total)
		var done atomic.Int64
		c.prog.setStatus(func() string {
			return fmt.Sprintf("%s the blobs of bucket %s: %d of %d objects done; %d blobs (%s) copied, %d already there",
				doing, b.Name, done.Load(), total, c.tally.get(true, "blobs"), humanBytes(c.tally.get(true, "blob bytes")), c.tally.get(false, "blobs"))
		})
		err = c.forEachKey(ctx, b.Name, func(ctx context.Context, key string) error {
			obj, err := c.From.Meta.Object(ctx, b.Name, key)
			if errors.Is(err, meta.ErrNoSuchKey) {
				return nil // deleted since the scan
			}
			if err != nil {
				return fmt.Errorf("object %s: %w", key, err)
			}
			for _, seg := range obj.Segments {
				if err := fn(ctx, seg, fmt.Sprintf("object %s/%s", b.Name, key)); err != nil {
					return err
				}
			}
			done.Add(1)
			v.objects.Add(1)
			c.prog.tick()
			return nil
		})
		c.prog.setStatus(nil)
		if err != nil {
			return v, fmt.Errorf("migrate: bucket %s: %w", b.Name, err)
		}
		err = scanUploads(ctx, c.From.Meta, b.Name, func(u meta.Upload) error {
			v.uploads++
			parts, err := c.From.Meta.Parts(ctx, u.Bucket, u.Key, u.ID, 0, 0)
			if err != nil {
				return fmt.Errorf("parts of upload %s: %w", u.ID, err)
			}
			for _, p := range parts {
				v.parts++
				if err := fn(ctx, p.Segment, fmt.Sprintf("part %d of upload %s", p.Number, u.ID)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return v, fmt.Errorf("migrate: uploads of bucket %s: %w", b.Name, err)
		}
		v.buckets++
	}
	return v, nil
}
