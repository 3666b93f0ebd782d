package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestPostgresCachedReadsCostNoRoundTrip: on PostgreSQL, a narinfo hit and
// a narinfo miss in a bucket nobody wrote to since are answered from
// memory (the memo, the filter of absent keys, the access caches): not
// one statement reaches the database. A window may catch the periodic
// write of access times, so the test asks for one clean window in three.
func TestPostgresCachedReadsCostNoRoundTrip(t *testing.T) {
	e := newEnv(t, withMeta(testenv.Postgres(t)))
	store, ok := e.srv.Meta().(interface{ Statements() uint64 })
	if !ok {
		t.Fatalf("%T counts no statements", e.srv.Meta())
	}
	b := e.bucket("rt")
	sp := e.pushPath(b, 1)
	hit := sp[len("/nix/store/"):][:32] + ".narinfo"
	miss := func(i int) {
		key := fmt.Sprintf("%032d.narinfo", i)
		_, err := e.s3.GetObject(ctx(t), &s3.GetObjectInput{Bucket: &b, Key: &key})
		if code(err) != "NoSuchKey" {
			t.Fatalf("GET %s: %v, want NoSuchKey", key, err)
		}
	}
	// Warm up: the memo, the access caches, and the bucket's filter,
	// which misses build in the background.
	for i := range 300 {
		e.get(b, hit)
		miss(i)
		time.Sleep(time.Millisecond)
	}
	var costs []uint64
	for w := range 3 {
		before := store.Statements()
		for i := range 200 {
			e.get(b, hit)
			miss(1000*(w+1) + i)
		}
		cost := store.Statements() - before
		if cost == 0 {
			return
		}
		costs = append(costs, cost)
	}
	t.Errorf("400 cached reads (200 hits, 200 misses) cost %v statements in three windows, want 0 in one", costs)
}
