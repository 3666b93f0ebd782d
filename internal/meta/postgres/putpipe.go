package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/metaenc"
)

// PutObject in one round trip, or two.
//
// A put is the write every push makes, once per narinfo and NAR, and run
// statement by statement its transaction took seven round trips (BEGIN,
// the current object, the narinfo index, the object, its blob reference,
// the change notification, COMMIT), each a wake-up of a PostgreSQL
// backend and of the node: half the node's CPU per 1 MiB PUT through to an
// S3 store, as much again in PostgreSQL, and the serial part of a single
// client's PUT (bench/scale.sh). Only the Check needs the current object
// before the rest is decided, so the transaction goes out as two batches
// (pgx sends a batch as one message train ending in one Sync):
//
//  1. BEGIN ISOLATION LEVEL SERIALIZABLE, and the current object;
//  2. after the Check: the index record, the object, the new segments'
//     references added, the old ones' dropped, which of those are no
//     longer referenced by anything (collect's question, asked after
//     every change as collect asks it), the notification, and COMMIT.
//
// A put without a Check to a key that holds nothing yet, which is what a
// push sends, needs no lookup at all: putNew sends BEGIN, a plain INSERT
// of the object and the rest of the second batch in one, and falls back
// to the two batches when the INSERT finds the key taken (or the bucket
// gone). BenchmarkPutObject: seven round trips 280-390 µs, two 186-195,
// one 103-116 (testenv's PostgreSQL, fsync off).
//
// A batch that holds COMMIT is sent and read on a context of its own
// (the caller's values, commitTimeout, not its cancellation): once it is
// sent, PostgreSQL commits whether or not the client that asked is still
// there, and a put that returned its caller's cancellation might have
// committed, whose caller would then discard the blobs of a visible
// object. A batch that fails without an answer from PostgreSQL (the
// connection lost, commitTimeout) is wrapped in meta.ErrOutcomeUnknown,
// and objects leaves its blobs to the sweep.
//
// Within a batch a failing statement makes PostgreSQL skip the
// rest up to the Sync, COMMIT included, leaving the transaction aborted;
// it is then rolled back, and a retryable failure (a serialization
// failure, at any statement or at COMMIT) runs the whole put again, as
// Store.run does.

// commitTimeout bounds a batch that holds COMMIT.
const commitTimeout = time.Minute

// commitContext is the context of a batch that holds COMMIT.
func commitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
}

// committing wraps the error of a batch that holds COMMIT: one that
// PostgreSQL did not answer leaves the outcome unknown.
func committing(err error) error {
	var pe *pgconn.PgError
	if err == nil || errors.As(err, &pe) {
		return err
	}
	return fmt.Errorf("%w: %w", meta.ErrOutcomeUnknown, err)
}

// qDropRefAbove is qDropRef for a blob qDropLastRef did not remove: the
// two conditions exclude each other, so both go in one batch without
// waiting for the first one's count.
const qDropRefAbove = `UPDATE blob_refs SET refs = refs - 1 WHERE blob = $1 AND refs > 1`

// PutObject stores obj after check accepted the current object, and returns
// the replaced object's no longer referenced segments. For a narinfo key
// it stores obj.Narinfo as the key's index record, or removes the record
// when obj.Narinfo is nil.
func (s *Store) PutObject(ctx context.Context, obj meta.Object, check meta.Check) ([]meta.Segment, error) {
	if err := meta.CheckKey(obj.Key); err != nil {
		return nil, fmt.Errorf("put object %q: %w", obj.Bucket, err)
	}
	// A key that holds nothing yet (most puts: a push writes new paths)
	// needs no lookup when there is no Check to show the current object.
	tryNew := check == nil
	// Errors leave it empty: tellObjects asks again after the commit.
	watchers, _ := s.watchersOf(ctx, obj.Bucket)
	tell := len(watchers) > 0
	for attempt := 1; ; attempt++ {
		var out []meta.Segment
		var ids []string
		var err error
		done := false
		if tryNew {
			ids, done, err = s.putNew(ctx, obj, tell)
			if err == nil && !done {
				s.gen.objs.drop(ids)
				tryNew = false // the key holds an object: no use trying again
			}
		}
		if err == nil && !done {
			out, ids, err = s.putOnce(ctx, obj, check, tell)
		}
		if err == nil {
			if err := s.tellObjects(ctx, obj.Bucket, []string{obj.Key}, ids); err != nil {
				return nil, err
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

// backoff waits a little, at random, before attempt+1 of a transaction
// that conflicted, so that racers do not meet again.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(min(attempt, 20)) * int64(time.Millisecond)))
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// qInsertObject is qPutObject for a key that must hold nothing: it fails
// with a unique violation when it does.
const qInsertObject = `INSERT INTO objects (bucket, key, size, etag, modified, attrs, segments, tags)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

// putNew runs PutObject's transaction for a key holding no object, in
// one round trip: BEGIN, a plain INSERT of the object, the index record,
// the references, the notification and COMMIT in one batch. When the key
// holds an object (the INSERT's unique violation) or the bucket is
// missing (its foreign key), PostgreSQL skips the rest, COMMIT included;
// putNew rolls back and reports done false, having changed nothing, and
// the caller runs putOnce, which reads what is there. ids are as
// putOnce's.
func (s *Store) putNew(ctx context.Context, obj meta.Object, tell bool) (ids []string, done bool, err error) {
	idx, idxArgs, err := indexStmt(obj.Bucket, obj.Key, obj.Narinfo)
	if err != nil {
		return nil, false, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("put object %q/%q: %w", obj.Bucket, obj.Key, err)
	}
	defer func() { releaseAfterTx(ctx, conn) }()
	var b pgx.Batch
	b.Queue("begin isolation level serializable")
	b.Queue(qInsertObject, obj.Bucket, obj.Key, obj.Size, obj.ETag, micros(obj.Modified),
		metaenc.EncodeAttrs(&obj), metaenc.EncodeSegments(obj.Segments), metaenc.EncodeTags(obj.Tags))
	if guard, args := guardStmt(obj.Bucket, obj.Narinfo); guard != "" {
		b.Queue(guard, args...)
	}
	if idx != "" {
		b.Queue(idx, idxArgs...)
	}
	for _, seg := range obj.Segments {
		if !seg.Inline() {
			b.Queue(qAddRef, seg.Blob)
		}
	}
	ids, _ = s.queueEnd(&b, obj.Bucket, obj.Key, tell)
	cctx, cancel := commitContext(ctx)
	defer cancel()
	br := conn.SendBatch(cctx, &b)
	_, err = br.Exec() // BEGIN
	if err == nil {
		_, err = br.Exec()
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "23503") {
			br.Close()
			return ids, false, nil
		}
	}
	for i := 2; err == nil && i < b.Len(); i++ {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return ids, false, fmt.Errorf("put object %q/%q: %w", obj.Bucket, obj.Key, guardErr(committing(err)))
	}
	return ids, true, nil
}

// putOnce runs PutObject's transaction once; it sends the notification
// of the key only if tell. ids are the notification ids it registered
// (see objWatch.notes), which the caller waits for or drops.
func (s *Store) putOnce(ctx context.Context, obj meta.Object, check meta.Check, tell bool) (out []meta.Segment, ids []string, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("put object %q/%q: %w", obj.Bucket, obj.Key, err)
	}
	defer func() { releaseAfterTx(ctx, conn) }()

	cur, err := beginLookup(ctx, conn, obj.Bucket, obj.Key)
	if err != nil {
		return nil, nil, err
	}
	if check != nil {
		if err := withNarinfo(ctx, conn, cur); err != nil {
			return nil, nil, err
		}
		if err := check(cur); err != nil {
			return nil, nil, err // unchanged, as the contract promises
		}
	}

	var second pgx.Batch
	guard, guardArgs := guardStmt(obj.Bucket, obj.Narinfo)
	if guard != "" {
		second.Queue(guard, guardArgs...)
	}
	if sql, args, err := indexStmt(obj.Bucket, obj.Key, obj.Narinfo); err != nil {
		return nil, nil, err
	} else if sql != "" {
		second.Queue(sql, args...)
	}
	second.Queue(qPutObject, obj.Bucket, obj.Key, obj.Size, obj.ETag, micros(obj.Modified),
		metaenc.EncodeAttrs(&obj), metaenc.EncodeSegments(obj.Segments), metaenc.EncodeTags(obj.Tags))
	added := 0
	// Add before dropping, so a blob kept by the new version never reaches
	// zero references.
	for _, seg := range obj.Segments {
		if !seg.Inline() {
			second.Queue(qAddRef, seg.Blob)
			added++
		}
	}
	var old []meta.Segment
	if cur != nil {
		for _, seg := range cur.Segments {
			if !seg.Inline() {
				old = append(old, seg)
			}
		}
	}
	for _, seg := range old {
		second.Queue(qDropLastRef, seg.Blob)
		second.Queue(qDropRefAbove, seg.Blob)
	}
	for _, seg := range old {
		second.Queue(qReferenced, seg.Blob)
	}
	ids, notes := s.queueEnd(&second, obj.Bucket, obj.Key, tell)
	cctx, cancel := commitContext(ctx)
	defer cancel()
	br := conn.SendBatch(cctx, &second)
	if guard != "" {
		_, err = br.Exec()
	}
	if err == nil {
		out, err = readPut(br, obj.Key, true, old, added, notes)
	}
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, ids, fmt.Errorf("put object %q/%q: %w", obj.Bucket, obj.Key, guardErr(committing(err)))
	}
	return out, ids, nil
}

// beginLookup sends the first batch of a write in two: BEGIN and the
// lookup of the key's current object (nil if none).
func beginLookup(ctx context.Context, conn *pgxpool.Conn, bucket, key string) (*meta.Object, error) {
	var first pgx.Batch
	first.Queue("begin isolation level serializable")
	first.Queue(qObject, bucket, key)
	br := conn.SendBatch(ctx, &first)
	var cur *meta.Object
	_, err := br.Exec()
	if err == nil {
		cur, err = scanObject(br.QueryRow(), bucket, key)
	}
	if cerr := br.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("look up object %q/%q: %w", bucket, key, cerr)
	}
	return cur, err
}

// queueEnd queues what ends a write's batch: the notification of the
// key if tell (see objWatch.notes, whose ids it returns, and how many
// statements they took) and COMMIT.
func (s *Store) queueEnd(b *pgx.Batch, bucket, key string, tell bool) (ids []string, notes int) {
	if !tell {
		b.Queue("commit")
		return nil, 0
	}
	ids, payloads := s.gen.objs.notes(bucket, []string{key})
	for _, p := range payloads {
		b.Queue(`SELECT pg_notify($1, $2)`, objChannel, p)
	}
	b.Queue("commit")
	return ids, len(payloads)
}

// readPut reads the second batch's results in the order putOnce (or
// deleteOnce) queued them: the index record of key, the object's
// statement (unless a delete found nothing: write false), the references
// added and dropped, the notifications and COMMIT. It returns the old
// segments nothing refers to any more.
func readPut(br pgx.BatchResults, key string, write bool, old []meta.Segment, added, notes int) ([]meta.Segment, error) {
	if _, ok := indexedKey(key); ok {
		if _, err := br.Exec(); err != nil {
			return nil, fmt.Errorf("index narinfo: %w", err)
		}
	}
	if write {
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
	}
	for range added {
		if _, err := br.Exec(); err != nil {
			return nil, fmt.Errorf("reference blob: %w", err)
		}
	}
	var g garbage
	for _, seg := range old {
		tag, err := br.Exec()
		if err != nil {
			return nil, fmt.Errorf("unreference blob %q: %w", seg.Blob, err)
		}
		if tag.RowsAffected() > 0 {
			g.add(seg)
		}
		if _, err := br.Exec(); err != nil {
			return nil, fmt.Errorf("unreference blob %q: %w", seg.Blob, err)
		}
	}
	var out []meta.Segment
	for _, seg := range old {
		var used bool
		if err := br.QueryRow().Scan(&used); err != nil {
			return nil, fmt.Errorf("look up blob %q: %w", seg.Blob, err)
		}
		if g.seen[seg.Blob] && !used {
			out = append(out, seg)
			delete(g.seen, seg.Blob) // once per blob, as collect
		}
	}
	for range notes {
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
	}
	if _, err := br.Exec(); err != nil { // COMMIT
		return nil, err
	}
	return out, nil
}

// releaseAfterTx returns conn to the pool, rolling back a transaction a
// failed batch left open. A connection it cannot roll back is closed
// rather than returned: pgxpool would destroy it anyway.
func releaseAfterTx(ctx context.Context, conn *pgxpool.Conn) {
	defer conn.Release()
	if conn.Conn().PgConn().TxStatus() == 'I' {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(rctx, "rollback"); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		conn.Conn().Close(rctx)
	}
}
