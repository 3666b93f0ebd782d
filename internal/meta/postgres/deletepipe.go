package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// DeleteObject in two round trips, as putOnce does a put (see putpipe.go).
//
// Statement by statement a delete took seven or more round trips (BEGIN,
// the current object, the narinfo index, the DELETE, a reference dropped
// per blob and its fallback, whether the blob is still referenced, the
// notification, COMMIT). Garbage collection and lifecycle expiry delete
// object after object, so those round trips were most of their time on
// PostgreSQL. Only the Check needs the current object first:
//
//  1. BEGIN ISOLATION LEVEL SERIALIZABLE, and the current object;
//  2. after the Check: the index record removed, the object deleted, its
//     blobs' references dropped, which of those blobs nothing refers to
//     any more, the notification, and COMMIT.

// DeleteObject removes the object, and for a narinfo key its index record,
// after check accepted it; a missing key is not an error.
func (s *Store) DeleteObject(ctx context.Context, bucket, key string, check meta.Check) ([]meta.Segment, error) {
	if meta.CheckKey(key) != nil {
		// No such key: check sees none, and nothing is deleted.
		if check != nil {
			if err := check(nil); err != nil {
				return nil, err
			}
		}
		return nil, needBucket(ctx, s.pool, bucket)
	}
	return s.deleteObject(ctx, bucket, key, check, nil)
}

// deleteObject is DeleteObject, or with collect CollectObject since
// *collect.
func (s *Store) deleteObject(ctx context.Context, bucket, key string, check meta.Check, collect *time.Time) ([]meta.Segment, error) {
	// Errors leave it empty: tellObjects asks again after the commit.
	watchers, _ := s.watchersOf(ctx, bucket)
	for attempt := 1; ; attempt++ {
		out, ids, deleted, err := s.deleteOnce(ctx, bucket, key, check, collect, len(watchers) > 0)
		if err == nil {
			if deleted {
				if err := s.tellObjects(ctx, bucket, []string{key}, ids); err != nil {
					return nil, err
				}
			}
			return out, nil
		}
		s.gen.objs.drop(ids) // not committed: nobody will acknowledge them
		if !retryable(err) || attempt == maxAttempts {
			return nil, err
		}
		if err := backoff(ctx, attempt); err != nil {
			return nil, err
		}
	}
}

// deleteOnce runs DeleteObject's transaction once; ids and tell are as
// putOnce's; deleted says an object was.
func (s *Store) deleteOnce(ctx context.Context, bucket, key string, check meta.Check, collect *time.Time, tell bool) (out []meta.Segment, ids []string, deleted bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, false, fmt.Errorf("delete object %q/%q: %w", bucket, key, err)
	}
	defer func() { releaseAfterTx(ctx, conn) }()
	cur, err := beginLookup(ctx, conn, bucket, key)
	if err != nil {
		return nil, nil, false, err
	}
	if check != nil {
		if err := withNarinfo(ctx, conn, cur); err != nil {
			return nil, nil, false, err
		}
		if err := check(cur); err != nil {
			return nil, nil, false, err // unchanged, as the contract promises
		}
	}

	if collect != nil {
		var claimed bool
		if err := conn.QueryRow(ctx, qNarinfoClaims, bucket, micros(*collect), key).Scan(&claimed); err != nil {
			return nil, nil, false, fmt.Errorf("collect %q/%q: %w", bucket, key, err)
		}
		if claimed {
			return nil, nil, false, fmt.Errorf("collect %q/%q: a narinfo pushed since names it: %w", bucket, key, meta.ErrPreconditionFailed)
		}
	}

	var second pgx.Batch
	// The index record goes even without an object: nothing may name a
	// narinfo the bucket does not hold.
	if sql, args, err := indexStmt(bucket, key, nil); err != nil {
		return nil, nil, false, err
	} else if sql != "" {
		second.Queue(sql, args...)
	}
	var old []meta.Segment
	notes := 0
	if cur != nil {
		second.Queue(`DELETE FROM objects WHERE bucket = $1 AND key = $2`, bucket, key)
		for _, seg := range cur.Segments {
			if !seg.Inline() {
				old = append(old, seg)
			}
		}
		for _, seg := range old {
			second.Queue(qDropLastRef, seg.Blob)
			second.Queue(qDropRefAbove, seg.Blob)
		}
		for _, seg := range old {
			second.Queue(qReferenced, seg.Blob)
		}
		ids, notes = s.queueEnd(&second, bucket, key, tell)
	} else {
		second.Queue("commit")
	}
	cctx, cancel := commitContext(ctx)
	defer cancel()
	br := conn.SendBatch(cctx, &second)
	out, err = readPut(br, key, cur != nil, old, 0, notes)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, ids, false, fmt.Errorf("delete object %q/%q: %w", bucket, key, committing(err))
	}
	return out, ids, cur != nil, nil
}
