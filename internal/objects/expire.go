package objects

import (
	"context"
	"errors"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// AbortUploadFreed is AbortUpload that also returns the bytes the
// upload's parts held, for the lifecycle sweep's figures. The parts' blobs
// are deleted as AbortUpload deletes them.
func (s *Service) AbortUploadFreed(ctx context.Context, bucket, key, uploadID string) (int64, error) {
	var garbage []meta.Segment
	err := s.freeing(func() (err error) {
		garbage, err = s.Meta.AbortUpload(ctx, bucket, key, uploadID)
		return err
	})
	if err != nil {
		return 0, err
	}
	s.discard(ctx, garbage)
	return segmentBytes(garbage), nil
}

func segmentBytes(segs []meta.Segment) int64 {
	var n int64
	for _, g := range segs {
		n += g.Size
	}
	return n
}

// errKept stops an expiry whose object was written again meanwhile.
var errKept = errors.New("object written since the cutoff")

// Expire deletes the object under key if it was last written before
// cutoff (a lifecycle Expiration), and returns whether it did and the
// bytes the object held. The age is checked in the delete's transaction,
// so an object written again meanwhile stays; that, or a missing key, is
// no error. Nor is a narinfo indexed after named that names key as its
// NAR (meta.GC's CollectObject): the object then stays too, so a narinfo
// pushed while the sweep ran never loses its NAR.
func (s *Service) Expire(ctx context.Context, bucket, key string, cutoff, named time.Time) (deleted bool, freed int64, err error) {
	var size int64
	check := func(cur *meta.Object) error {
		if cur == nil || !cur.Modified.Before(cutoff) {
			return errKept
		}
		size = cur.Size
		return nil
	}
	var garbage []meta.Segment
	err = s.freeing(func() (err error) {
		garbage, err = s.Meta.CollectObject(ctx, bucket, key, named, check)
		return err
	})
	s.forget(bucket, key)
	if errors.Is(err, errKept) || errors.Is(err, meta.ErrPreconditionFailed) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, err
	}
	s.discard(ctx, garbage)
	return true, size, nil
}
