package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// batch is how many uploads or objects one scan reads: each abort or
// expiry is its own short transaction, so reads and writes go on while a
// sweep runs.
const batch = 100

// Report holds one sweep's figures.
type Report struct {
	UploadsAborted int
	UploadBytes    int64 // freed by the aborted uploads' parts
	ObjectsExpired int
	ObjectBytes    int64 // freed by the expired objects
}

// Sweep applies every bucket's rules once, at Now: it aborts uploads
// older than their days (AbortDays) and deletes objects past the expiry
// of an enabled Expiration rule covering them (ExpiryCutoff). A bucket that fails
// does not stop the others; the first error is returned with the figures
// of what was done.
func (s *Service) Sweep(ctx context.Context) (Report, error) {
	start := time.Now()
	now := s.now()
	var rep Report
	var first error
	buckets, err := s.Store.Buckets(ctx)
	if err != nil {
		return rep, fmt.Errorf("lifecycle sweep: %w", err)
	}
	for _, b := range buckets {
		if err := s.sweepBucket(ctx, b.Name, now, &rep); err != nil && !errors.Is(err, meta.ErrNoSuchBucket) {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			s.log().Warn("lifecycle sweep", "bucket", b.Name, "err", err)
			if first == nil {
				first = fmt.Errorf("lifecycle sweep of %q: %w", b.Name, err)
			}
		}
	}
	s.log().Info("lifecycle sweep", "buckets", len(buckets),
		"uploads_aborted", rep.UploadsAborted, "upload_bytes_freed", rep.UploadBytes,
		"objects_expired", rep.ObjectsExpired, "object_bytes_freed", rep.ObjectBytes,
		"took", time.Since(start).Round(time.Millisecond))
	return rep, first
}

func (s *Service) sweepBucket(ctx context.Context, bucket string, now time.Time, rep *Report) error {
	rules, err := s.Store.LifecycleRules(ctx, bucket)
	if err != nil {
		return err
	}
	if err := s.abortUploads(ctx, bucket, rules, now, rep); err != nil {
		return err
	}
	var expiring []meta.LifecycleRule
	for _, r := range rules {
		if r.Enabled && r.ExpirationDays > 0 && !HoldsNix(r.Prefix) { // HoldsNix: refused on the way in; checked again here
			expiring = append(expiring, r)
		}
	}
	if len(expiring) == 0 {
		return nil
	}
	// The NARs narinfos name stay: those indexed now, read here, and
	// those indexed during the sweep (see named).
	nars := &named{rules: expiring, keys: map[string]bool{}}
	if err := s.readNamed(ctx, bucket, nars); err != nil {
		return err
	}
	for _, r := range expiring {
		if err := s.expire(ctx, bucket, r.Prefix, ExpiryCutoff(now, r.ExpirationDays), nars, rep); err != nil {
			return err
		}
	}
	return nil
}

// ExpiryCutoff returns the time before which an object last written
// expires at now under an Expiration of days. As on AWS, an object
// expires at the first midnight (UTC) at least days after its last
// write, so it is deleted by the first sweep after that midnight: at now,
// what was written more than days before the last midnight.
func ExpiryCutoff(now time.Time, days int) time.Time {
	return now.UTC().Truncate(Day).Add(-time.Duration(days) * Day)
}

// abortUploads aborts the bucket's uploads initiated at least their
// AbortDays before now.
func (s *Service) abortUploads(ctx context.Context, bucket string, rules []meta.LifecycleRule, now time.Time, rep *Report) error {
	q := meta.ScanQuery{Bucket: bucket, Limit: batch}
	for {
		ups, err := s.Store.ScanUploads(ctx, q)
		if err != nil {
			return err
		}
		for _, u := range ups {
			days := AbortDays(rules, u.Key)
			if days == 0 || now.Before(u.Initiated.Add(time.Duration(days)*Day)) {
				continue
			}
			freed, err := s.Objects.AbortUploadFreed(ctx, bucket, u.Key, u.ID)
			if errors.Is(err, meta.ErrNoSuchUpload) {
				continue // completed or aborted meanwhile
			}
			if err != nil {
				return fmt.Errorf("aborting upload %s of %q: %w", u.ID, u.Key, err)
			}
			s.log().Debug("aborted abandoned upload", "bucket", bucket, "key", u.Key, "upload", u.ID,
				"initiated", u.Initiated, "days", days, "bytes", freed)
			rep.UploadsAborted++
			rep.UploadBytes += freed
		}
		if len(ups) < batch {
			return nil
		}
		last := ups[len(ups)-1]
		q.After, q.AfterUploadID = last.Key, last.ID
	}
}

// expire deletes the objects under prefix last written before cutoff,
// but those narinfos name as their NAR (nars).
func (s *Service) expire(ctx context.Context, bucket, prefix string, cutoff time.Time, nars *named, rep *Report) error {
	q := meta.ScanQuery{Bucket: bucket, Prefix: prefix, Limit: batch}
	for {
		objs, err := s.Store.ScanObjects(ctx, q)
		if err != nil {
			return err
		}
		looked := false
		for _, o := range objs {
			if !o.Modified.Before(cutoff) {
				continue
			}
			if !looked { // once a page, before its first delete
				if err := s.recentNamed(ctx, bucket, nars); err != nil {
					return err
				}
				looked = true
			}
			if nars.keys[o.Key] {
				s.log().Debug("lifecycle: kept an expired object a narinfo names as its NAR", "bucket", bucket, "key", o.Key)
				continue
			}
			deleted, freed, err := s.Objects.Expire(ctx, bucket, o.Key, cutoff, nars.since)
			if err != nil {
				return fmt.Errorf("expiring %q: %w", o.Key, err)
			}
			if deleted {
				rep.ObjectsExpired++
				rep.ObjectBytes += freed
			}
		}
		if len(objs) < batch {
			return nil
		}
		q.After = objs[len(objs)-1].Key
	}
}
