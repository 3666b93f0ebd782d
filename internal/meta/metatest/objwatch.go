package metatest

import (
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// testObjectChangesShared: for a store that implements
// meta.ObjectWatcher, every object change made through one instance is
// reported by the other as soon as the writing call returned (no waiting
// here), by bucket and key, and an instance does not report its own
// changes. A store without the interface has nothing to check.
func testObjectChangesShared(t *testing.T, a meta.Store, reopen Reopen) {
	wa, ok := a.(meta.ObjectWatcher)
	if !ok {
		t.Log("the store does not report object changes (meta.ObjectWatcher)")
		return
	}
	b := reopen(t)
	wb := b.(meta.ObjectWatcher)
	ctx := t.Context()
	mustCreateBucket(t, a, "b")
	// A fresh instance vouches for its answers only after a while.
	for _, w := range []meta.ObjectWatcher{wa, wb} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, ok := w.ObjectMark("b"); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("ObjectMark never ok")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// changes returns what w reports after since, and the new mark.
	changes := func(w meta.ObjectWatcher, since uint64) ([]string, uint64) {
		t.Helper()
		var got []string
		next, all, err := w.ObjectChanges(ctx, since, func(bucket, key string) { got = append(got, bucket+"/"+key) })
		if err != nil || all {
			t.Fatalf("ObjectChanges(%d): all %v, %v", since, all, err)
		}
		if m, _ := w.ObjectMark("b"); next != m {
			t.Fatalf("ObjectChanges reached %d, ObjectMark says %d", next, m)
		}
		return got, next
	}
	long := strings.Repeat("é/ \n\"x", 150) // escapes in the payload, a long key
	u := meta.Upload{Bucket: "b", Key: "up", ID: "upload-watch", Initiated: when}
	mustCreateUpload(t, a, u)
	seg := newBlob(1 << 20)
	if _, err := a.PutPart(ctx, "b", "up", u.ID, meta.Part{Number: 1, Size: seg.Size, ETag: "e", Modified: when, Segment: seg}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		by   int
		fn   func(s meta.Store) error
		want []string // reported by the other instance
	}{
		{"PutObject", 0, func(s meta.Store) error { _, err := s.PutObject(ctx, newObject("b", "k1"), nil); return err }, []string{"b/k1"}},
		{"PutObject long key", 1, func(s meta.Store) error { _, err := s.PutObject(ctx, newObject("b", long), nil); return err }, []string{"b/" + long}},
		{"overwrite", 1, func(s meta.Store) error { _, err := s.PutObject(ctx, newObject("b", "k1"), nil); return err }, []string{"b/k1"}},
		{"SetObjectTags", 0, func(s meta.Store) error { return s.SetObjectTags(ctx, "b", "k1", []meta.Tag{{Key: "k", Value: "v"}}) }, []string{"b/k1"}},
		{"DeleteObject", 0, func(s meta.Store) error { _, err := s.DeleteObject(ctx, "b", "k1", nil); return err }, []string{"b/k1"}},
		{"CompleteUpload", 0, func(s meta.Store) error {
			obj := meta.Object{Bucket: "b", Key: "up", Size: seg.Size, ETag: "abc-1", Modified: when, PartsCount: 1, Segments: []meta.Segment{seg}}
			_, err := s.CompleteUpload(ctx, u.ID, obj, nil)
			return err
		}, []string{"b/up"}},
	}
	insts := []meta.Store{a, b}
	watchers := []meta.ObjectWatcher{wa, wb}
	marks := make([]uint64, 2)
	for i, w := range watchers {
		marks[i], _ = w.ObjectMark("b")
	}
	for _, st := range steps {
		if err := st.fn(insts[st.by]); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		other := 1 - st.by
		got, next := changes(watchers[other], marks[other])
		if strings.Join(got, "|") != strings.Join(st.want, "|") {
			t.Errorf("%s through instance %d: instance %d reports %q, want %q", st.name, st.by, other, got, st.want)
		}
		marks[other] = next
		if own, next := changes(watchers[st.by], marks[st.by]); len(own) != 0 {
			t.Errorf("%s: instance %d reports its own change %q", st.name, st.by, own)
		} else {
			marks[st.by] = next
		}
	}
}
