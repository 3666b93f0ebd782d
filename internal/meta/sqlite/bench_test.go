package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// The benchmarks pair each Store method with a peer: the bare SQL statement
// it cannot beat, run through the same pool on the same database, so the
// ratio shows the Store's own overhead. Besides wall time per operation
// they report the process's CPU time per operation (cpu-ns/op), which a
// busy machine distorts less. Set NIXBUCKET_BENCH_DIR to put the database
// on a particular file system (fsync cost dominates writes).

const benchObjects = 10000

// reportCPU adds the metric cpu-ns/op: user plus system CPU time of the
// whole process from now until the benchmark ends, per operation.
func reportCPU(b *testing.B) {
	start := cpuTime(b)
	b.Cleanup(func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
		}
	})
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchStore(b *testing.B) *Store {
	b.Helper()
	dir := os.Getenv("NIXBUCKET_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	} else {
		var err error
		if dir, err = os.MkdirTemp(dir, "metabench"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	s, err := Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func benchObject(i int) meta.Object {
	return meta.Object{
		Bucket: "cache", Key: fmt.Sprintf("%032d.narinfo", i), Size: 1234,
		ETag: "0123456789abcdef0123456789abcdef", Modified: time.Now(),
		Headers:  meta.Headers{ContentType: "text/x-nix-narinfo"},
		SHA256:   make([]byte, 32),
		Segments: []meta.Segment{{Blob: fmt.Sprintf("blob-%d-%d", i, time.Now().UnixNano()), Size: 1234}},
	}
}

// populated returns a store holding benchObjects objects in one bucket.
func populated(b *testing.B) *Store {
	b.Helper()
	s := benchStore(b)
	ctx := context.Background()
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "cache", Created: time.Now()}); err != nil {
		b.Fatal(err)
	}
	putAll(b, s, func(yield func(meta.Object) bool) {
		for i := range benchObjects {
			if !yield(benchObject(i)) {
				return
			}
		}
	})
	return s
}

func BenchmarkObject(b *testing.B) {
	s := populated(b)
	ctx := context.Background()
	b.Run("Store", func(b *testing.B) {
		reportCPU(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := s.Object(ctx, "cache", fmt.Sprintf("%032d.narinfo", i%benchObjects)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Missing", func(b *testing.B) {
		reportCPU(b)
		for i := 0; b.Loop(); i++ {
			if _, err := s.Object(ctx, "cache", fmt.Sprintf("%032d.narinfo", benchObjects+i)); err == nil {
				b.Fatal("found a missing object")
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		reportCPU(b)
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(n.Add(1))
				if _, err := s.Object(ctx, "cache", fmt.Sprintf("%032d.narinfo", i%benchObjects)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	// Peer: one prepared single-column point query on the read pool.
	raw, err := s.r.db.Prepare(`SELECT etag FROM objects WHERE bucket = ? AND key = ?`)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	b.Run("RawQuery", func(b *testing.B) {
		reportCPU(b)
		b.ReportAllocs()
		var etag string
		for i := 0; b.Loop(); i++ {
			if err := raw.QueryRowContext(ctx, "cache", fmt.Sprintf("%032d.narinfo", i%benchObjects)).Scan(&etag); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkPutObject(b *testing.B) {
	s := populated(b)
	ctx := context.Background()
	b.Run("Overwrite", func(b *testing.B) {
		reportCPU(b)
		for i := 0; b.Loop(); i++ {
			if _, err := s.PutObject(ctx, benchObject(i%benchObjects), nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel16", func(b *testing.B) {
		reportCPU(b)
		var n atomic.Int64
		b.SetParallelism(max(1, 16/runtime.GOMAXPROCS(0))) // about 16 writers
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.PutObject(ctx, benchObject(int(n.Add(1))%benchObjects), nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	// Peer: the smallest durable write, a one-row INSERT transaction on the
	// same writer connection.
	if _, err := s.w.db.Exec(`CREATE TABLE bench_raw (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID`); err != nil {
		b.Fatal(err)
	}
	b.Run("RawInsert", func(b *testing.B) {
		reportCPU(b)
		for i := 0; b.Loop(); i++ {
			tx, err := s.w.db.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tx.Exec(`INSERT OR REPLACE INTO bench_raw VALUES (?, ?)`, fmt.Sprint(i%benchObjects), "v"); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGeneration measures the per-request check of the IAM caches.
// Peers: an atomic load of ordinary memory, which it cannot beat, and
// PRAGMA data_version, the query it replaces.
func BenchmarkGeneration(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.Run("Store", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Generation(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Generation(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("AtomicLoad", func(b *testing.B) {
		var n atomic.Uint64
		for b.Loop() {
			n.Load()
		}
	})
	b.Run("DataVersion", func(b *testing.B) {
		var v int64
		for b.Loop() {
			if err := s.r.db.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
