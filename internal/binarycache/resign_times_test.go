package binarycache_test

import (
	"context"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/binarycache"
)

// TestResignKeepsTimes: re-signing a narinfo after a key rotation is no
// push: its record keeps when it was pushed and last used, which the
// retention (keep-days, max-size's least recently used) judges by.
func TestResignKeepsTimes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ni := e.validNarinfo(t)
	if _, err := e.put(t, hash+".narinfo", []byte(ni.String()), ""); err != nil {
		t.Fatal(err)
	}
	used := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := e.store.TouchNarinfos(ctx, bucket, []string{hash}, used); err != nil {
		t.Fatal(err)
	}
	before, err := e.store.Narinfo(ctx, bucket, hash)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := binarycache.NewSigningKey(ctx, e.store, bucket, "rotated-1"); err != nil {
		t.Fatal(err)
	}
	hook := e.objs.Hook.(*binarycache.Hook)
	if res, err := hook.Resign(ctx, bucket, binarycache.ResignOptions{}); err != nil || res.Resigned != 1 {
		t.Fatalf("resign: %+v, %v; want one narinfo re-signed", res, err)
	}
	after, err := e.store.Narinfo(ctx, bucket, hash)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Sigs) != len(before.Sigs)+1 {
		t.Errorf("signatures %v after resign, want %v and one more", after.Sigs, before.Sigs)
	}
	if !after.Created.Equal(before.Created) || !after.LastAccess.Equal(before.LastAccess) {
		t.Errorf("resign changed the record's times: created %v, last used %v; want %v, %v",
			after.Created, after.LastAccess, before.Created, before.LastAccess)
	}
}
