package postgres

import (
	"errors"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestDeleteFailuresLeaveNoTransaction: deletes refused by their check or
// in a missing bucket, more of them than the pool has connections, leave
// no transaction open and change nothing; then deletes of two objects
// sharing a blob free it only with the second, and a narinfo's delete
// takes its index record along.
func TestDeleteFailuresLeaveNoTransaction(t *testing.T) {
	s := openAt(t, testenv.Postgres(t))
	ctx := t.Context()
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "b", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	shared := []meta.Segment{{Blob: "shared", Size: 3}}
	for _, key := range []string{"x", "y"} {
		if _, err := s.PutObject(ctx, meta.Object{Bucket: "b", Key: key, Size: 3, ETag: "e", Modified: time.Now(), Segments: shared}, nil); err != nil {
			t.Fatal(err)
		}
	}
	refused := errors.New("refused by the check")
	for range int(s.pool.Config().MaxConns) + 3 {
		if _, err := s.DeleteObject(ctx, "nobucket", "x", nil); !errors.Is(err, meta.ErrNoSuchBucket) {
			t.Fatalf("delete in a missing bucket: %v, want ErrNoSuchBucket", err)
		}
		if _, err := s.DeleteObject(ctx, "b", "x", func(cur *meta.Object) error {
			if cur == nil || cur.Key != "x" {
				t.Errorf("the check saw %v, want object x", cur)
			}
			return refused
		}); !errors.Is(err, refused) {
			t.Fatalf("delete refused by its check: %v", err)
		}
	}
	var stuck int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&stuck); err != nil {
		t.Fatal(err)
	}
	if stuck != 0 {
		t.Errorf("%d connections idle in a transaction after the failed deletes", stuck)
	}
	if _, err := s.Object(ctx, "b", "x"); err != nil {
		t.Fatalf("a refused delete removed the object: %v", err)
	}

	garbage, err := s.DeleteObject(ctx, "b", "x", nil)
	if err != nil || len(garbage) != 0 {
		t.Fatalf("delete of x (y still refers to its blob): garbage %v, %v", garbage, err)
	}
	if garbage, err = s.DeleteObject(ctx, "b", "x", nil); err != nil || len(garbage) != 0 {
		t.Fatalf("delete of x again: garbage %v, %v", garbage, err)
	}
	garbage, err = s.DeleteObject(ctx, "b", "y", nil)
	if err != nil || len(garbage) != 1 || garbage[0].Blob != "shared" {
		t.Fatalf("delete of y: garbage %v, %v, want the shared blob", garbage, err)
	}
	if refd, err := s.Referenced(ctx, []string{"shared"}); err != nil || refd["shared"] {
		t.Fatalf("after both deletes the blob is referenced: %v, %v", refd, err)
	}

	const hash = "0123456789abcdfghijklmnpqrsvwxyz"
	ni := meta.Object{Bucket: "b", Key: hash + ".narinfo", Size: 3, ETag: "e", Modified: time.Now(),
		Segments: []meta.Segment{{Data: []byte("abc"), Size: 3}},
		Narinfo:  &meta.Narinfo{Bucket: "b", Hash: hash, StorePath: "/nix/store/" + hash + "-x", URL: "nar/x.nar", NarSize: 1}}
	if _, err := s.PutObject(ctx, ni, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Narinfo(ctx, "b", hash); err != nil {
		t.Fatalf("the narinfo's index record: %v", err)
	}
	if _, err := s.DeleteObject(ctx, "b", ni.Key, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Narinfo(ctx, "b", hash); !errors.Is(err, meta.ErrNoSuchKey) {
		t.Fatalf("after the narinfo's delete its index record: %v, want ErrNoSuchKey", err)
	}
}
