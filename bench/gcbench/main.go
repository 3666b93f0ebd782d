// Command gcbench builds a synthetic Nix cache straight into a nixbucket
// data directory's metadata store, for bench/gc.sh: by default 1,000,000
// paths of 10 references each, 50 roots of 20,000-path closures over
// 2,000 shared paths, 5 of the closures (10 % of the paths) stale.
//
//	gcbench -data DIR [-bucket cache] [-roots 50] [-unique 19960] [-shared 2000]
//
// The data directory must not exist yet, or hold no bucket of that name.
// The bucket gets keep-days=30 and gc=on.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nixbucket/nixbucket/internal/lifecycle/gc/gcsynth"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/backend"
	"github.com/nixbucket/nixbucket/internal/storage/localfs"
)

func main() {
	data := flag.String("data", "", "nixbucket data directory to build into")
	bucket := flag.String("bucket", "cache", "bucket to create")
	roots := flag.Int("roots", 50, "closures")
	unique := flag.Int("unique", 19960, "paths of each closure of its own")
	shared := flag.Int("shared", 2000, "paths every closure uses")
	stale := flag.Int("stale", 5, "closures pushed and used long ago")
	refs := flag.Int("refs", 10, "references per path")
	width := flag.Int("width", 1000, "paths per layer of a closure")
	hits := flag.String("hits", "", "also write the narinfo URL paths of 10,000 kept paths to this file (for wrk's bench/nix/paths.lua)")
	flag.Parse()
	if *data == "" {
		fmt.Fprintln(os.Stderr, "usage: gcbench -data DIR [flags]")
		os.Exit(2)
	}
	shape := gcsynth.Shape{
		Bucket: *bucket, Roots: *roots, Unique: *unique, Shared: *shared, Stale: *stale,
		Refs: *refs, Width: *width, NARBytes: 512, Now: time.Now().UTC(),
		StaleAge: 90 * 24 * time.Hour, FreshAge: 24 * time.Hour, Sign: true,
	}
	if *hits != "" {
		if err := writeHits(*hits, shape); err != nil {
			fmt.Fprintln(os.Stderr, "gcbench:", err)
			os.Exit(1)
		}
		if _, err := os.Stat(filepath.Join(*data, "meta.db")); err == nil {
			return // only the list, for a cache built before
		}
	}
	if err := build(*data, shape); err != nil {
		fmt.Fprintln(os.Stderr, "gcbench:", err)
		os.Exit(1)
	}
}

func build(data string, s gcsynth.Shape) error {
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	blobs, err := localfs.Open(filepath.Join(data, "blobs"))
	if err != nil {
		return err
	}
	blobs.Close()
	store, err := backend.Open(data, "")
	if err != nil {
		return err
	}
	defer store.Close()
	ctx := context.Background()
	start := time.Now()
	err = gcsynth.Build(ctx, store, s, func(done int) {
		if done%100000 == 0 {
			fmt.Fprintf(os.Stderr, "gcbench: %d of %d paths (%s)\n", done, s.Paths(), time.Since(start).Round(time.Second))
		}
	})
	if err != nil {
		return err
	}
	if err := store.SetRetention(ctx, s.Bucket, meta.Retention{KeepDays: 30, GC: true, Grace: time.Hour}); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gcbench: built %d paths in %s\n", s.Paths(), time.Since(start).Round(time.Millisecond))
	return nil
}

// writeHits writes the URL paths of narinfos the collector keeps: the
// paths of the fresh closures, spread over them.
func writeHits(file string, s gcsynth.Shape) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	fresh := s.Shared + s.Stale*s.Unique
	step := max(1, (s.Paths()-fresh)/10000)
	for i := fresh; i < s.Paths(); i += step {
		fmt.Fprintf(f, "/%s/%s.narinfo\n", s.Bucket, gcsynth.Hash(i))
	}
	return f.Close()
}
