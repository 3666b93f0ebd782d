package sqlite

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

func testObj(key, blob string) meta.Object {
	return meta.Object{Bucket: "b", Key: key, ETag: "e", Segments: []meta.Segment{{Blob: blob, Size: 1}}}
}

// put returns a write function that stores obj, as PutObject does.
func put(obj meta.Object, check meta.Check) func(t *txn) error {
	return func(t *txn) error {
		cur, err := t.current(obj.Bucket, obj.Key, check)
		if err != nil {
			return err
		}
		return t.putObject(obj, cur, &garbage{})
	}
}

// TestCommitBatch commits one batch by hand: failed, panicking and
// cancelled requests leave no trace, the others commit together.
func TestCommitBatch(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	veto := errors.New("veto")
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	reqs := []*writeReq{
		{ctx: ctx, fn: put(testObj("a", "1"), nil)},
		{ctx: ctx, fn: put(testObj("b", "2"), func(*meta.Object) error { return veto })},
		{ctx: ctx, fn: func(t *txn) error {
			if err := put(testObj("c", "3"), nil)(t); err != nil {
				return err
			}
			panic("boom")
		}},
		{ctx: canceled, fn: put(testObj("d", "4"), nil)},
		{ctx: ctx, fn: func(t *txn) error {
			// Sees the earlier request's effect, fails after changing things.
			if err := put(testObj("a", "5"), nil)(t); err != nil {
				return err
			}
			return veto
		}},
		{ctx: ctx, fn: put(testObj("e", "6"), nil)},
	}
	before := s.commits.Load()
	s.commit(reqs)
	if n := s.commits.Load() - before; n != 1 {
		t.Errorf("%d commits, want 1", n)
	}
	wantErrs := []error{nil, veto, nil, context.Canceled, veto, nil}
	for i, r := range reqs {
		if r.err != wantErrs[i] {
			t.Errorf("request %d: error %v, want %v", i, r.err, wantErrs[i])
		}
	}
	if reqs[2].panicked != "boom" {
		t.Errorf("request 2: panicked %v, want boom", reqs[2].panicked)
	}
	for key, want := range map[string]string{"a": "1", "b": "", "c": "", "d": "", "e": "6"} {
		obj, err := s.Object(ctx, "b", key)
		switch {
		case want == "" && !errors.Is(err, meta.ErrNoSuchKey):
			t.Errorf("Object(%q) = %+v, %v; want none", key, obj, err)
		case want != "" && (err != nil || obj.Segments[0].Blob != want):
			t.Errorf("Object(%q) = %+v, %v; want blob %s", key, obj, err, want)
		}
	}
	ref, err := s.Referenced(ctx, []string{"1", "2", "3", "4", "5", "6"})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]bool{"1": true, "2": false, "3": false, "4": false, "5": false, "6": true}; fmt.Sprint(ref) != fmt.Sprint(want) {
		t.Errorf("Referenced = %v, want %v", ref, want)
	}
}

// TestGroupCommit checks that writers waiting while a commit runs share
// the next one: with the committer held by one write, 16 writers queue up,
// and once it is released all 16 commit in a single transaction.
func TestGroupCommit(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	const writers = 16
	before := s.commits.Load()
	holding, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		err := s.write(ctx, func(*txn) error {
			close(holding)
			<-release
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	})
	<-holding
	for w := range writers {
		wg.Go(func() {
			obj := testObj(fmt.Sprintf("%d", w), fmt.Sprintf("blob-%d", w))
			if _, err := s.PutObject(ctx, obj, nil); err != nil {
				t.Error(err)
			}
		})
	}
	waitQueued(t, writers)
	close(release)
	wg.Wait()
	if commits := s.commits.Load() - before; commits != 2 {
		t.Errorf("the held write and %d queued writes took %d commits, want 2", writers, commits)
	}
	objs, err := s.ScanObjects(ctx, meta.ScanQuery{Bucket: "b"})
	if err != nil || len(objs) != writers {
		t.Fatalf("ScanObjects: %d objects, %v; want %d", len(objs), err, writers)
	}
}

// waitQueued waits until n goroutines are blocked handing a write to the
// committer (in submit's select), as the goroutine dump shows.
func waitQueued(t *testing.T, n int) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(time.Minute)
	for {
		queued := 0
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "[select") && strings.Contains(g, "sqlite.(*Store).submit(") {
				queued++
			}
		}
		if queued >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writers queued after a minute, want %d", queued, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWritePanics(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if p := recover(); p != "check panic" {
				t.Errorf("recovered %v, want the check's panic", p)
			}
		}()
		s.PutObject(ctx, testObj("k", "x"), func(*meta.Object) error { panic("check panic") })
	}()
	// The store still works, and the panicked write left nothing.
	if _, err := s.Object(ctx, "b", "k"); !errors.Is(err, meta.ErrNoSuchKey) {
		t.Errorf("Object after a panicked put: %v, want ErrNoSuchKey", err)
	}
	if _, err := s.PutObject(ctx, testObj("k", "y"), nil); err != nil {
		t.Errorf("PutObject after a panicked put: %v", err)
	}
}

func TestWriteCanceledOrClosed(t *testing.T) {
	s := openTemp(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "b"}); !errors.Is(err, context.Canceled) {
		t.Errorf("CreateBucket with a cancelled context: %v", err)
	}
	if _, err := s.Bucket(t.Context(), "b"); !errors.Is(err, meta.ErrNoSuchBucket) {
		t.Errorf("Bucket after a cancelled create: %v, want ErrNoSuchBucket", err)
	}
	s.Close()
	if err := s.CreateBucket(t.Context(), meta.Bucket{Name: "b"}); !errors.Is(err, errClosed) {
		t.Errorf("CreateBucket after Close: %v, want errClosed", err)
	}
}
