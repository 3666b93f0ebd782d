package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

const benchNarinfos = 100_000

func benchHash(i int) string { return fmt.Sprintf("%032d", i) }

// benchNarinfo returns a record of a typical size: a few references, one
// signature, about 700 bytes in all.
func benchNarinfo(i int) *meta.Narinfo {
	h := benchHash(i)
	refs := make([]string, 6)
	for k := range refs {
		refs[k] = benchHash((i+k*7919)%benchNarinfos) + "-some-package-1.2.3"
	}
	return &meta.Narinfo{
		Hash:        h,
		StorePath:   "/nix/store/" + h + "-some-package-1.2.3",
		URL:         "nar/1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3.nar.zst",
		Compression: "zstd",
		FileHash:    "sha256:1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3",
		FileSize:    int64(10_000 + i),
		NarHash:     "sha256:0yzq3hd3kbz5a3x5pj5rzqm8ycnwxg3ckyfvyp7r1dcnmb5kq8ak",
		NarSize:     int64(40_000 + i),
		References:  refs,
		Deriver:     h + "-some-package-1.2.3.drv",
		Sigs:        []string{"nix-cache-1:dGhpcyBpcyBhIHNpZ25hdHVyZSBvZiA2NCBieXRlcyB0aGlzIGlzIGEgc2lnbmF0dXJlIG9mIDY0IGJ5dGVz=="},
		Created:     time.Now(),
		LastAccess:  time.Now(),
	}
}

// populatedCache returns a store whose bucket "cache" has benchNarinfos
// indexed narinfos (records only: the objects do not affect these
// benchmarks).
func populatedCache(b *testing.B) *Store {
	b.Helper()
	s := benchStore(b)
	ctx := context.Background()
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "cache", Created: time.Now()}); err != nil {
		b.Fatal(err)
	}
	err := s.write(ctx, func(t *txn) error {
		for i := range benchNarinfos {
			if err := t.indexObject("cache", benchHash(i)+narinfoSuffix, benchNarinfo(i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkCacheStats sums 100,000 records, from the covering index
// narinfos_sizes. Peer: the same call once the index is dropped, a scan of
// the table, the design without the index.
func BenchmarkCacheStats(b *testing.B) {
	s := populatedCache(b)
	ctx := context.Background()
	run := func(b *testing.B) {
		reportCPU(b)
		for b.Loop() {
			st, err := s.CacheStats(ctx, "cache")
			if err != nil || st.Paths != benchNarinfos {
				b.Fatalf("CacheStats = %+v, %v", st, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchNarinfos, "ns/record")
	}
	b.Run("Store", run)
	if _, err := s.w.db.Exec(`DROP INDEX narinfos_sizes`); err != nil {
		b.Fatal(err)
	}
	b.Run("TableScan", run)
}

// BenchmarkPutNarinfo overwrites narinfo objects with their records: the
// index's cost on writes. Peer: the same objects under keys that are not
// indexed.
func BenchmarkPutNarinfo(b *testing.B) {
	s := populatedCache(b)
	ctx := context.Background()
	obj := func(i int, indexed bool) meta.Object {
		o := benchObject(i % benchNarinfos)
		o.Key = benchHash(i%benchNarinfos) + narinfoSuffix
		if indexed {
			o.Narinfo = benchNarinfo(i % benchNarinfos)
		} else {
			o.Key += ".unindexed"
		}
		return o
	}
	for _, c := range []struct {
		name    string
		indexed bool
	}{{"Store", true}, {"Unindexed", false}} {
		b.Run(c.name, func(b *testing.B) {
			reportCPU(b)
			for i := 0; b.Loop(); i++ {
				if _, err := s.PutObject(ctx, obj(i*7919, c.indexed), nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTouchNarinfos touches 1,000 records per call, a flush of a
// busy server's batch. Peer: one UPDATE over a JSON array of the hashes.
func BenchmarkTouchNarinfos(b *testing.B) {
	s := populatedCache(b)
	ctx := context.Background()
	const batch = 1000
	hashes := func(i int) []string {
		hs := make([]string, batch)
		for k := range hs {
			hs[k] = benchHash((i*batch + k*97) % benchNarinfos)
		}
		return hs
	}
	b.Run("Store", func(b *testing.B) {
		reportCPU(b)
		for i := 0; b.Loop(); i++ {
			if err := s.TouchNarinfos(ctx, "cache", hashes(i), time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("JSONEach", func(b *testing.B) {
		reportCPU(b)
		for i := 0; b.Loop(); i++ {
			js, err := json.Marshal(hashes(i))
			if err != nil {
				b.Fatal(err)
			}
			err = s.write(ctx, func(t *txn) error {
				_, err := t.tx.ExecContext(ctx, `UPDATE narinfos SET last_access = ?
					WHERE bucket = ? AND hash IN (SELECT value FROM json_each(?))`, time.Now().UnixNano(), "cache", string(js))
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
