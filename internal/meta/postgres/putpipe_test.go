package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestPutFailuresLeaveNoTransaction fails PutObject's pipelined
// transactions at each of their stages, more times than the pool has
// connections: without a Check (putNew's one batch) on a missing bucket
// and on a NUL byte, which PostgreSQL's text refuses; with one (putOnce)
// in the first batch (a missing bucket), at the Check, and in the second
// batch (the NUL byte, after BEGIN and the lookup succeeded). Every failure must roll back and leave
// its connection usable, change nothing, and a put after them succeed.
func TestPutFailuresLeaveNoTransaction(t *testing.T) {
	s := openAt(t, testenv.Postgres(t))
	ctx := t.Context()
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "b", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	seg := func(i int) []meta.Segment { return []meta.Segment{{Blob: fmt.Sprintf("blob-%d", i), Size: 3}} }
	refused := errors.New("refused by the check")
	n := int(s.pool.Config().MaxConns) + 3
	for i := range n {
		_, err := s.PutObject(ctx, meta.Object{Bucket: "nobucket", Key: "k", Segments: seg(i)}, nil)
		if !errors.Is(err, meta.ErrNoSuchBucket) {
			t.Fatalf("put into a missing bucket: %v, want ErrNoSuchBucket", err)
		}
		_, err = s.PutObject(ctx, meta.Object{Bucket: "nobucket", Key: "k", Segments: seg(i)},
			func(*meta.Object) error { return nil })
		if !errors.Is(err, meta.ErrNoSuchBucket) {
			t.Fatalf("put with a check into a missing bucket: %v, want ErrNoSuchBucket", err)
		}
		_, err = s.PutObject(ctx, meta.Object{Bucket: "b", Key: "k", Segments: seg(i)},
			func(*meta.Object) error { return refused })
		if !errors.Is(err, refused) {
			t.Fatalf("put refused by its check: %v", err)
		}
		_, err = s.PutObject(ctx, meta.Object{Bucket: "b", Key: "k", ETag: "bad\x00etag", Segments: seg(i)}, nil)
		if err == nil {
			t.Fatal("put with a NUL byte in its ETag succeeded")
		}
		_, err = s.PutObject(ctx, meta.Object{Bucket: "b", Key: "k", ETag: "bad\x00etag", Segments: seg(i)},
			func(*meta.Object) error { return nil })
		if err == nil {
			t.Fatal("put with a check and a NUL byte in its ETag succeeded")
		}
	}
	var stuck int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&stuck); err != nil {
		t.Fatal(err)
	}
	if stuck != 0 {
		t.Errorf("%d connections idle in a transaction after the failed puts", stuck)
	}
	if _, err := s.Object(ctx, "b", "k"); !errors.Is(err, meta.ErrNoSuchKey) {
		t.Fatalf("after failed puts, the object: %v, want ErrNoSuchKey", err)
	}
	refd, err := s.Referenced(ctx, []string{"blob-0"})
	if err != nil {
		t.Fatal(err)
	}
	if refd["blob-0"] {
		t.Error("a failed put left a blob reference")
	}
	obj := meta.Object{Bucket: "b", Key: "k", Size: 3, ETag: "e", Modified: time.Now(), Segments: seg(1)}
	if _, err := s.PutObject(ctx, obj, nil); err != nil {
		t.Fatalf("put after the failures: %v", err)
	}
	// Replacing it returns the old blob as garbage, from the same batch.
	obj.Segments = seg(2)
	garbage, err := s.PutObject(ctx, obj, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(garbage) != 1 || garbage[0].Blob != "blob-1" {
		t.Errorf("replacing the object freed %v, want blob-1", garbage)
	}
}

// TestCommittingWrapsOnlyUnanswered: a batch holding COMMIT that
// PostgreSQL answered with an error rolled back (a serialization failure
// stays retryable); one it did not answer may have committed.
func TestCommittingWrapsOnlyUnanswered(t *testing.T) {
	conflict := &pgconn.PgError{Code: "40001"}
	if err := committing(conflict); errors.Is(err, meta.ErrOutcomeUnknown) || !retryable(err) {
		t.Errorf("committing(serialization failure) = %v: want it unwrapped and retryable", err)
	}
	for _, cause := range []error{context.DeadlineExceeded, io.ErrUnexpectedEOF} {
		if err := committing(cause); !errors.Is(err, meta.ErrOutcomeUnknown) || !errors.Is(err, cause) {
			t.Errorf("committing(%v) = %v: want ErrOutcomeUnknown wrapping it", cause, err)
		}
	}
	if committing(nil) != nil {
		t.Error("committing(nil) is not nil")
	}
}
