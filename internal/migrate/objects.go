package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/storage"
)

// pageSize is how many records one scan of a store returns.
const pageSize = 500

// narinfoSuffix ends the key of every narinfo object, whose record in the
// narinfo index is copied with it.
const narinfoSuffix = ".narinfo"

// copyAllObjects copies every bucket's objects.
func (c *Copier) copyAllObjects(ctx context.Context) error {
	buckets, err := c.From.Meta.Buckets(ctx)
	if err != nil {
		return fmt.Errorf("migrate: reading the source's buckets: %w", err)
	}
	for _, b := range buckets {
		if err := c.copyObjects(ctx, b.Name); err != nil {
			return fmt.Errorf("migrate: bucket %s: %w", b.Name, err)
		}
	}
	return nil
}

// scanKeys calls fn with each page of the bucket's object keys in s.
func scanKeys(ctx context.Context, s meta.Store, bucket string, fn func(keys []string) error) error {
	after := ""
	for {
		objs, err := s.ScanObjects(ctx, meta.ScanQuery{Bucket: bucket, After: after, Limit: pageSize})
		if err != nil {
			return err
		}
		if len(objs) == 0 {
			return nil
		}
		keys := make([]string, len(objs))
		for i, o := range objs {
			keys[i] = o.Key
		}
		if err := fn(keys); err != nil {
			return err
		}
		after = keys[len(keys)-1]
	}
}

// countObjects counts the bucket's objects in s.
func countObjects(ctx context.Context, s meta.Store, bucket string) (int64, error) {
	var n int64
	err := scanKeys(ctx, s, bucket, func(keys []string) error {
		n += int64(len(keys))
		return nil
	})
	return n, err
}

// forEachKey runs fn on each of the bucket's object keys in the source,
// c.Jobs at a time, until the first error.
func (c *Copier) forEachKey(ctx context.Context, bucket string, fn func(ctx context.Context, key string) error) error {
	g, ctx := errgroup.WithContext(ctx)
	keys := make(chan string)
	g.Go(func() error {
		defer close(keys)
		return scanKeys(ctx, c.From.Meta, bucket, func(page []string) error {
			for _, k := range page {
				select {
				case keys <- k:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
	})
	for range c.Jobs {
		g.Go(func() error {
			for k := range keys {
				if err := fn(ctx, k); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// copyObjects copies the bucket's objects, c.Jobs at a time.
func (c *Copier) copyObjects(ctx context.Context, bucket string) error {
	total, err := countObjects(ctx, c.From.Meta, bucket)
	if err != nil {
		return err
	}
	c.prog.linef("objects of bucket %s: %d to copy or check", bucket, total)
	var done atomic.Int64
	copied0, present0, bytes0 := c.tally.get(true, "objects"), c.tally.get(false, "objects"), c.tally.get(true, "blob bytes")
	line := func() string {
		return fmt.Sprintf("objects of bucket %s: %d of %d (%d copied, %d already there, %s of blobs copied)",
			bucket, done.Load(), total, c.tally.get(true, "objects")-copied0, c.tally.get(false, "objects")-present0,
			humanBytes(c.tally.get(true, "blob bytes")-bytes0))
	}
	c.prog.setStatus(line)
	defer c.prog.setStatus(nil)
	err = c.forEachKey(ctx, bucket, func(ctx context.Context, key string) error {
		if err := c.copyObject(ctx, bucket, key); err != nil {
			return err
		}
		done.Add(1)
		c.prog.tick()
		return nil
	})
	if err != nil {
		return err
	}
	c.prog.linef("%s", line())
	return nil
}

// sourceObject returns the source's object with its narinfo record, nil
// when the key is gone.
func sourceObject(ctx context.Context, s meta.Store, bucket, key string) (*meta.Object, error) {
	obj, err := s.Object(ctx, bucket, key)
	if errors.Is(err, meta.ErrNoSuchKey) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	n, err := narinfoOf(ctx, s, bucket, key)
	if err != nil {
		return nil, err
	}
	obj.Narinfo = n
	return &obj, nil
}

// narinfoOf returns the narinfo index record of the object under key, nil
// for none.
func narinfoOf(ctx context.Context, s meta.Store, bucket, key string) (*meta.Narinfo, error) {
	hash, ok := strings.CutSuffix(key, narinfoSuffix)
	if !ok {
		return nil, nil
	}
	n, err := s.Narinfo(ctx, bucket, hash)
	if errors.Is(err, meta.ErrNoSuchKey) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("narinfo record of %s: %w", key, err)
	}
	return &n, nil
}

// copyObject copies one object, blobs first, unless the destination holds
// it already. Its narinfo record goes with it, in the same PutObject.
func (c *Copier) copyObject(ctx context.Context, bucket, key string) error {
	src, err := sourceObject(ctx, c.From.Meta, bucket, key)
	if err != nil {
		return fmt.Errorf("object %s: %w", key, err)
	}
	if src == nil {
		return nil // deleted since the scan, by an admin command
	}
	dst, err := sourceObject(ctx, c.To.Meta, bucket, key)
	if err != nil {
		return fmt.Errorf("object %s in the destination: %w", key, err)
	}
	// The blobs first, also for an object already there: a blob gone
	// from the destination since (deleted by hand, or swept) comes back.
	for _, seg := range src.Segments {
		if err := c.copyBlob(ctx, seg, "object "+key); err != nil {
			return err
		}
	}
	if dst != nil && sameUntagged(*src, *dst) {
		if !slices.Equal(src.Tags, dst.Tags) {
			// Tagged since an earlier run: PutObject would index the
			// narinfo again and leave the same blobs as garbage.
			if err := c.To.Meta.SetObjectTags(ctx, bucket, key, src.Tags); err != nil {
				return fmt.Errorf("tags of object %s: %w", key, err)
			}
			c.tally.add(true, "objects", 1)
			return nil
		}
		c.tally.add(false, "objects", 1)
		if src.Narinfo != nil {
			c.tally.add(false, "narinfos", 1)
		}
		return nil
	}
	// The garbage a replaced version leaves is not deleted here: without
	// --to-blobs the blob store is the source's, whose records still name
	// it, and otherwise the server's sweeper finds it.
	obj := *src
	if obj.Narinfo != nil {
		rec := *obj.Narinfo
		rec.Copied = true // the other records keep their times
		obj.Narinfo = &rec
	}
	if _, err := c.To.Meta.PutObject(ctx, obj, nil); err != nil {
		return fmt.Errorf("object %s: %w", key, err)
	}
	c.tally.add(true, "objects", 1)
	if src.Narinfo != nil {
		c.tally.add(true, "narinfos", 1)
	}
	return nil
}

// opener is what backends that can open a blob for one sequential read
// offer (s3store's OpenStream): it saves a request.
type opener interface {
	OpenStream(ctx context.Context, id string) (storage.Blob, error)
}

// openStream opens a blob to be read from its start to its end.
func openStream(ctx context.Context, b storage.Backend, id string) (storage.Blob, error) {
	if o, ok := b.(opener); ok {
		return o.OpenStream(ctx, id)
	}
	return b.Open(ctx, id)
}

// copyBlob copies a segment's blob to the destination under its ID unless
// it is there with its size already. Inline segments travel in their
// record; without a destination blob store there is nothing to copy.
func (c *Copier) copyBlob(ctx context.Context, seg meta.Segment, of string) error {
	if seg.Inline() || c.placer == nil {
		return nil
	}
	if b, err := c.placer.Open(ctx, seg.Blob); err == nil {
		size := b.Size()
		b.Close()
		if size == seg.Size {
			c.tally.add(false, "blobs", 1)
			c.tally.add(false, "blob bytes", size)
			return nil
		}
		// A blob of another size under the ID: copy it again.
	} else if !storage.IsNotExist(err) {
		return fmt.Errorf("blob %s of %s in the destination: %w", seg.Blob, of, err)
	}
	r, err := openStream(ctx, c.From.Blobs, seg.Blob)
	if storage.IsNotExist(err) {
		return fmt.Errorf("blob %s of %s is missing from the source's blob store (nixbucket verify BUCKET --repair on the source removes what refers to it): %w", seg.Blob, of, err)
	}
	if err != nil {
		return fmt.Errorf("blob %s of %s: %w", seg.Blob, of, err)
	}
	defer r.Close()
	if r.Size() != seg.Size {
		return fmt.Errorf("blob %s of %s has %d bytes in the source's blob store, its record says %d: %w", seg.Blob, of, r.Size(), seg.Size, ErrMismatch)
	}
	w, err := c.placer.CreateAt(ctx, seg.Blob)
	if err != nil {
		return fmt.Errorf("blob %s of %s: %w", seg.Blob, of, err)
	}
	defer w.Abort()
	n, err := io.Copy(w, &counting{r: r, n: func(n int) {
		c.tally.add(true, "blob bytes", int64(n))
		c.prog.tick()
	}})
	if err != nil {
		return fmt.Errorf("copying blob %s of %s: %w", seg.Blob, of, err)
	}
	if n != seg.Size {
		return fmt.Errorf("blob %s of %s: read %d bytes of %d from the source", seg.Blob, of, n, seg.Size)
	}
	if _, err := w.Commit(ctx); err != nil {
		return fmt.Errorf("copying blob %s of %s: %w", seg.Blob, of, err)
	}
	c.tally.add(true, "blobs", 1)
	return nil
}

// counting is a reader that reports the bytes it read, for the progress
// lines of large blobs.
type counting struct {
	r io.Reader
	n func(int)
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n(n)
	}
	return n, err
}

// scanUploads calls fn with each of the bucket's uploads in s.
func scanUploads(ctx context.Context, s meta.Store, bucket string, fn func(meta.Upload) error) error {
	q := meta.ScanQuery{Bucket: bucket, Limit: pageSize}
	for {
		ups, err := s.ScanUploads(ctx, q)
		if err != nil {
			return err
		}
		if len(ups) == 0 {
			return nil
		}
		for _, u := range ups {
			if err := fn(u); err != nil {
				return err
			}
		}
		last := ups[len(ups)-1]
		q.After, q.AfterUploadID = last.Key, last.ID
	}
}

// copyAllUploads copies every bucket's multipart uploads in progress.
func (c *Copier) copyAllUploads(ctx context.Context) error {
	buckets, err := c.From.Meta.Buckets(ctx)
	if err != nil {
		return fmt.Errorf("migrate: reading the source's buckets: %w", err)
	}
	for _, b := range buckets {
		err := scanUploads(ctx, c.From.Meta, b.Name, func(u meta.Upload) error {
			return c.copyUpload(ctx, u)
		})
		if err != nil {
			return fmt.Errorf("migrate: uploads of bucket %s: %w", b.Name, err)
		}
	}
	return nil
}

// copyUpload copies an upload under its ID, then its parts, blobs first.
func (c *Copier) copyUpload(ctx context.Context, u meta.Upload) error {
	_, err := c.To.Meta.Upload(ctx, u.Bucket, u.Key, u.ID)
	switch {
	case errors.Is(err, meta.ErrNoSuchUpload):
		// ScanUploads leaves the tags out; Upload has them.
		full, err := c.From.Meta.Upload(ctx, u.Bucket, u.Key, u.ID)
		if err != nil {
			return fmt.Errorf("upload %s of %s: %w", u.ID, u.Key, err)
		}
		if err := c.To.Meta.CreateUpload(ctx, full); err != nil {
			return fmt.Errorf("upload %s of %s: %w", u.ID, u.Key, err)
		}
		c.tally.add(true, "uploads", 1)
	case err != nil:
		return fmt.Errorf("upload %s of %s: %w", u.ID, u.Key, err)
	default:
		c.tally.add(false, "uploads", 1)
	}
	parts, err := c.From.Meta.Parts(ctx, u.Bucket, u.Key, u.ID, 0, 0)
	if err != nil {
		return fmt.Errorf("parts of upload %s: %w", u.ID, err)
	}
	have, err := c.To.Meta.Parts(ctx, u.Bucket, u.Key, u.ID, 0, 0)
	if err != nil {
		return fmt.Errorf("parts of upload %s in the destination: %w", u.ID, err)
	}
	byNumber := map[int]meta.Part{}
	for _, p := range have {
		byNumber[p.Number] = p
	}
	for _, p := range parts {
		if err := c.copyBlob(ctx, p.Segment, fmt.Sprintf("part %d of upload %s", p.Number, u.ID)); err != nil {
			return err
		}
		if h, ok := byNumber[p.Number]; ok && samePart(h, p) {
			c.tally.add(false, "parts", 1)
			continue
		}
		if _, err := c.To.Meta.PutPart(ctx, u.Bucket, u.Key, u.ID, p); err != nil {
			return fmt.Errorf("part %d of upload %s: %w", p.Number, u.ID, err)
		}
		c.tally.add(true, "parts", 1)
	}
	return nil
}
