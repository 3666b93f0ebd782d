package metatest

import (
	"reflect"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
)

func checkRules(t *testing.T, s meta.Store, bucket string, want []meta.LifecycleRule) {
	t.Helper()
	got, err := s.LifecycleRules(t.Context(), bucket)
	if err != nil {
		t.Fatalf("LifecycleRules(%q): %v", bucket, err)
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LifecycleRules(%q) = %+v, want %+v", bucket, got, want)
	}
}

// testLifecycleRules: rules read back verbatim and in order, per bucket;
// setting replaces, none removes, and DeleteBucket takes them along.
func testLifecycleRules(t *testing.T, s meta.Store) {
	ctx := t.Context()
	_, err := s.LifecycleRules(ctx, "missing")
	wantErr(t, "LifecycleRules(missing)", err, meta.ErrNoSuchBucket)
	err = s.SetLifecycleRules(ctx, "missing", []meta.LifecycleRule{{ID: "x", Enabled: true, AbortUploadsDays: 1}})
	wantErr(t, "SetLifecycleRules(missing)", err, meta.ErrNoSuchBucket)
	mustCreateBucket(t, s, "b")
	mustCreateBucket(t, s, "c")
	if got, err := s.LifecycleRules(ctx, "b"); err != nil || len(got) != 0 {
		t.Fatalf("LifecycleRules(b) before any set = %+v, %v; want none", got, err)
	}

	first := []meta.LifecycleRule{
		{ID: "z-last-by-name", Enabled: true, Prefix: "tmp/", ExpirationDays: 30},
		{ID: "abort", Enabled: true, AbortUploadsDays: 3},
		{ID: "", Enabled: false, Prefix: "scratch/ünïcode ", AbortUploadsDays: 1, ExpirationDays: 2},
	}
	if err := s.SetLifecycleRules(ctx, "b", first); err != nil {
		t.Fatalf("SetLifecycleRules(b): %v", err)
	}
	checkRules(t, s, "b", first)
	checkRules(t, s, "c", nil)

	second := []meta.LifecycleRule{{ID: "only", Enabled: true, Prefix: "logs/", AbortUploadsDays: 10}}
	if err := s.SetLifecycleRules(ctx, "b", second); err != nil {
		t.Fatalf("SetLifecycleRules(b) again: %v", err)
	}
	checkRules(t, s, "b", second)

	if err := s.SetLifecycleRules(ctx, "b", nil); err != nil {
		t.Fatalf("SetLifecycleRules(b, nil): %v", err)
	}
	checkRules(t, s, "b", nil)
	if err := s.SetLifecycleRules(ctx, "b", []meta.LifecycleRule{}); err != nil {
		t.Fatalf("SetLifecycleRules(b, empty) without rules: %v", err)
	}

	if err := s.SetLifecycleRules(ctx, "c", first); err != nil {
		t.Fatalf("SetLifecycleRules(c): %v", err)
	}
	if err := s.DeleteBucket(ctx, "c"); err != nil {
		t.Fatalf("DeleteBucket(c) with lifecycle rules: %v", err)
	}
	_, err = s.LifecycleRules(ctx, "c")
	wantErr(t, "LifecycleRules(c) after DeleteBucket", err, meta.ErrNoSuchBucket)
	mustCreateBucket(t, s, "c")
	checkRules(t, s, "c", nil)
}

// testLifecycleRulesShared: rules set through one instance are read
// through another at once (the sweep may run in another server).
func testLifecycleRulesShared(t *testing.T, s meta.Store, reopen Reopen) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	other := reopen(t)
	rules := []meta.LifecycleRule{{ID: "a", Enabled: true, AbortUploadsDays: 2}}
	if err := s.SetLifecycleRules(ctx, "b", rules); err != nil {
		t.Fatalf("SetLifecycleRules: %v", err)
	}
	checkRules(t, other, "b", rules)
	if err := other.SetLifecycleRules(ctx, "b", nil); err != nil {
		t.Fatalf("SetLifecycleRules through the other instance: %v", err)
	}
	checkRules(t, s, "b", nil)
}
