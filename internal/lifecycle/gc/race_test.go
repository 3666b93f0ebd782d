package gc

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// TestCollectReferrerPushedAtDelete: the referrer's push commits after the
// sweep last looked at the old path and before its narinfo's delete. The
// new narinfo was accepted, so the old path must stay, with its closure:
// the delete itself, in its transaction, must see the path used.
func TestCollectReferrerPushedAtDelete(t *testing.T) {
	c := newCache(t)
	c.push(generations...)
	gen5 := spec{name: "gen5", refs: []string{"lib1"}}
	c.pushOnDelete(hashOf("lib1")+".narinfo", gen5, true)
	col := c.collector()
	col.Workers = 1 // the hook moves the clock
	if _, err := col.Run(t.Context(), bucket, meta.Retention{KeepDays: 30, Grace: time.Hour}, false); err != nil {
		t.Fatal(err)
	}
	c.checkInvariant()
	c.checkPaths(append(slices.Clone(generations), gen5), "glibc", "lib1", "lib3", "gen3", "gen5")
}

// TestCollectReferrerPushedShortGrace: with a grace period shorter than
// meta.UseSlack, a path used a few seconds before the run planned, which a
// push during the run then refers to, is not marked used again by that
// push (it was used within meta.UseSlack); the collector must still take
// it for used.
func TestCollectReferrerPushedShortGrace(t *testing.T) {
	c := newCache(t)
	c.push(generations...)
	if err := c.store.TouchNarinfos(t.Context(), bucket, []string{hashOf("lib1")}, c.now.Add(-5*time.Second)); err != nil {
		t.Fatal(err)
	}
	gen5 := spec{name: "gen5", refs: []string{"lib1"}}
	col := c.collector()
	pushed := c.pushAt(col, "measuring", gen5)
	if _, err := col.Run(t.Context(), bucket, meta.Retention{MaxSize: 1, Grace: time.Second}, false); err != nil {
		t.Fatal(err)
	}
	if !pushed() {
		t.Fatal("the run measured nothing")
	}
	c.checkInvariant()
	c.checkPaths(append(slices.Clone(generations), gen5), "glibc", "lib1", "gen5")
}

// TestCollectNarClaimedDuringDeletes: a push that died left a NAR; it
// runs again while the collector deletes files, finds the NAR (Nix's
// HEAD) and sends only the narinfo, which must keep the NAR:
//   - between two batches (after a batch of listings, before the NARs):
//     the next batch checks for new narinfos again, by the collector's
//     clock (Collector.Now, NIXBUCKET_GC_NOW);
//   - after the last such check, just before the NAR's delete: the
//     delete, judging in its own transaction, refuses.
func TestCollectNarClaimedDuringDeletes(t *testing.T) {
	for _, tc := range []struct{ name, before string }{
		{"BetweenBatches", "log/"},
		{"AtDelete", "nar/gen5.nar"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t)
			c.push(generations...)
			gen5 := spec{name: "gen5", refs: []string{"lib3", "glibc"}}
			c.leftBy(gen5, 2*time.Hour)
			c.pushOnDelete(tc.before, gen5, false)
			col := c.collector()
			col.Workers = 1 // the hook moves the clock
			if _, err := col.Run(t.Context(), bucket, meta.Retention{KeepDays: 30, Grace: time.Hour}, false); err != nil {
				t.Fatal(err)
			}
			c.checkInvariant()
			if !c.has("nar/gen5.nar") {
				t.Errorf("the NAR of the narinfo pushed before deleting %s… is gone", tc.before)
			}
		})
	}
}

// TestCollectNarinfoAfterNARDelete: as above, but the narinfo comes just
// after the NAR's delete (Nix found the NAR before it went). The narinfo
// must be refused, telling the client to push again, which uploads the
// NAR; it must not be accepted without its NAR.
func TestCollectNarinfoAfterNARDelete(t *testing.T) {
	c := newCache(t)
	c.push(generations...)
	gen5 := spec{name: "gen5", refs: []string{"lib3", "glibc"}}
	c.leftBy(gen5, 2*time.Hour)
	c.run(meta.Retention{KeepDays: 30, Grace: time.Hour}, false)
	if c.has("nar/gen5.nar") {
		t.Fatal("the orphan NAR was not collected")
	}
	err := c.putNarinfo(gen5)
	if !errors.Is(err, meta.ErrNARMissing) {
		t.Fatalf("narinfo naming the NAR just collected: %v, want %v", err, meta.ErrNARMissing)
	}
	c.checkInvariant()
	c.uploadFiles(gen5) // the push again: its NAR first
	c.uploadNarinfo(gen5)
	c.checkInvariant()
}

// leftBy uploads s's files as a push that died ago left them.
func (c *cache) leftBy(s spec, ago time.Duration) {
	now := c.now
	c.now = now.Add(-ago)
	c.uploadFiles(s)
	c.now = now
}

// pushOnDelete pushes s's narinfo (its files first, with files), a second
// later on the clock, just before the collector's first delete of a key
// starting with prefix. The collector must run one worker: the push
// moves the clock.
func (c *cache) pushOnDelete(prefix string, s spec, files bool) {
	var once sync.Once
	c.beforeDelete = func(key string) {
		if strings.HasPrefix(key, prefix) {
			once.Do(func() {
				c.now = c.now.Add(time.Second)
				if files {
					c.uploadFiles(s)
				}
				c.uploadNarinfo(s)
			})
		}
	}
}

// TestCollectClaimWindowFollowsChecks: the narinfos a NAR's delete looks
// for in its transaction (Conditions.Collect) are those pushed since the
// collector last read the index for newcomers (a margin before), not
// since the run began: that check runs before every batch, and what it
// found is kept already. Otherwise every delete of a long run on a cache
// taking pushes scans all the narinfos pushed during the run, under the
// store's write lock (SQLite) or a serializable range read (PostgreSQL).
func TestCollectClaimWindowFollowsChecks(t *testing.T) {
	c := newCache(t)
	const n = 12 // orphan NARs: four batches of three
	for i := range n {
		c.leftBy(spec{name: "orphan" + strconv.Itoa(i)}, 2*time.Hour)
	}
	type narDelete struct{ now, collect time.Time }
	var dels []narDelete
	col := c.collector()
	col.Workers = 1 // the hook moves the clock
	wrapped := &claimRecorder{cache: c, record: func(key string, cond objects.Conditions) {
		c.now = c.now.Add(10 * time.Minute) // a long run
		if strings.HasPrefix(key, "nar/") {
			dels = append(dels, narDelete{c.now, cond.Collect})
		}
	}}
	col.Objects = wrapped
	rep, err := col.Run(t.Context(), bucket, meta.Retention{KeepDays: 30, Grace: time.Hour}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Removed[Orphan].NARs; got != n {
		t.Fatalf("%d orphan NARs collected, want %d", got, n)
	}
	// A batch of 3 deletes moves the clock 30 minutes; the margin is a
	// minute.
	for i, d := range dels {
		if d.collect.IsZero() {
			t.Fatalf("NAR delete %d without Collect", i)
		}
		if window := d.now.Sub(d.collect); window > 31*time.Minute {
			t.Errorf("NAR delete %d looks for narinfos pushed in the last %v, more than a batch's time", i, window)
		}
	}
}

// claimRecorder is the cache, telling record each delete before it runs.
type claimRecorder struct {
	*cache
	record func(key string, cond objects.Conditions)
}

func (r *claimRecorder) Delete(ctx context.Context, b, key string, cond objects.Conditions) error {
	r.record(key, cond)
	return r.cache.Delete(ctx, b, key, cond)
}
