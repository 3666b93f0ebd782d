package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/binarycache"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/server"
	"github.com/nixbucket/nixbucket/internal/units"
)

// bucketAdminUsage is the part of bucketUsage for the commands that make,
// list, delete and re-sign buckets.
const bucketAdminUsage = `  nixbucket bucket create NAME [--public]          a bucket with a fresh signing key (--public:
                                                    the anonymous-read policy)
  nixbucket bucket list                            name, store paths, size, access, signing keys
  nixbucket bucket delete NAME [--force]           delete an empty bucket (--force: with its objects)
  nixbucket bucket resign NAME [--progress N]      add the current keys' signatures to every
                                                    stored narinfo that lacks one (after a new key)`

// bucketCreateCmd makes a bucket with its signing key, as S3 CreateBucket
// does, and prints the key in trusted-public-keys form.
func bucketCreateCmd(fs *flag.FlagSet, data *string, args []string) error {
	public := fs.Bool("public", false, "let anyone read it (the anonymous-read bucket policy)")
	pos, err := parse(fs, args, 1, 1, "bucket create NAME [--public]")
	if err != nil {
		return err
	}
	name := pos[0]
	if err := objects.ValidBucketName(name); err != nil {
		return err
	}
	return withAdmin(*data, func(a *admin) error {
		err := a.store.CreateBucket(a.ctx, meta.Bucket{Name: name, Created: time.Now().UTC()})
		if errors.Is(err, meta.ErrBucketExists) {
			return fmt.Errorf("bucket %s already exists", name)
		}
		if err != nil {
			return err
		}
		if _, err := binarycache.EnsureSigningKey(a.ctx, a.store, name); err != nil {
			return err
		}
		if *public {
			if err := a.access.SetBucketPolicy(a.ctx, name, anonymousRead(name)); err != nil {
				return err
			}
		}
		keys, err := binarycache.PublicKeys(a.ctx, a.store, name)
		if err != nil {
			return err
		}
		access := "private (nixbucket bucket policy set " + name + " anonymous-read makes it public)"
		if *public {
			access = "public: anyone may read it"
		}
		fmt.Printf("bucket %s created, %s\ntrusted-public-keys: %s\n", name, access, strings.Join(keys, " "))
		return nil
	})
}

// bucketListCmd prints one line per bucket.
func bucketListCmd(fs *flag.FlagSet, data *string, args []string) error {
	if _, err := parse(fs, args, 0, 0, "bucket list"); err != nil {
		return err
	}
	return withAdmin(*data, func(a *admin) error {
		buckets, err := a.store.Buckets(a.ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tPATHS\tSIZE\tACCESS\tKEYS")
		for _, b := range buckets {
			st, err := a.store.CacheStats(a.ctx, b.Name)
			if err != nil {
				return err
			}
			keys, err := a.store.SigningKeys(a.ctx, b.Name)
			if err != nil {
				return err
			}
			names := make([]string, len(keys))
			for i, k := range keys {
				names[i] = k.Name
			}
			if len(names) == 0 {
				names = []string{"none (unsigned: nixbucket bucket key generate " + b.Name + ")"}
			}
			public, err := a.access.MayAllowInBucket(a.ctx, access.Identity{Anonymous: true}, "s3:GetObject", b.Name)
			if err != nil {
				return err
			}
			acc := "private"
			if public {
				acc = "public"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", b.Name, st.Paths, units.Bytes(st.FileBytes), acc, strings.Join(names, ","))
		}
		return tw.Flush()
	})
}

// bucketDeleteCmd deletes a bucket; with --force its objects and
// unfinished uploads first.
func bucketDeleteCmd(fs *flag.FlagSet, data *string, args []string) error {
	force := fs.Bool("force", false, "delete the bucket's objects and unfinished uploads too")
	blobs := blobsFlag(fs)
	pos, err := parse(fs, args, 1, 1, "bucket delete NAME [--force]")
	if err != nil {
		return err
	}
	name := pos[0]
	return withObjects(*data, *blobs, func(a *admin, objs *objects.Service) error {
		if _, err := a.store.Bucket(a.ctx, name); err != nil {
			return err
		}
		if *force {
			n, err := emptyBucket(a.ctx, objs, name)
			if aerr := a.announceObjects(a.ctx); err == nil {
				err = aerr
			}
			if err != nil {
				return err
			}
			if n > 0 {
				fmt.Fprintf(os.Stderr, "deleted %d objects and uploads of %s\n", n, name)
			}
		}
		err := objs.DeleteBucket(a.ctx, name)
		if errors.Is(err, meta.ErrBucketNotEmpty) {
			st, serr := a.store.CacheStats(a.ctx, name)
			what := "objects"
			if serr == nil && st.Paths > 0 {
				what = strconv.FormatInt(st.Paths, 10) + " store paths"
			}
			return fmt.Errorf("bucket %s is not empty (it holds %s); nixbucket bucket delete --force %s deletes them with it", name, what, name)
		}
		if err != nil {
			return err
		}
		fmt.Printf("bucket %s deleted\n", name)
		return nil
	})
}

// emptyBucket deletes every object and aborts every upload of bucket, and
// returns how many there were.
func emptyBucket(ctx context.Context, objs *objects.Service, bucket string) (int, error) {
	n := 0
	for {
		uploads, err := objs.Meta.ScanUploads(ctx, meta.ScanQuery{Bucket: bucket, Limit: objects.MaxListResults})
		if err != nil {
			return n, err
		}
		for _, u := range uploads {
			if err := objs.AbortUpload(ctx, bucket, u.Key, u.ID); err != nil && !errors.Is(err, meta.ErrNoSuchUpload) {
				return n, err
			}
			n++
		}
		page, err := objs.List(ctx, objects.ListInput{Bucket: bucket, MaxKeys: objects.MaxListResults})
		if err != nil {
			return n, err
		}
		for _, o := range page.Objects {
			if err := objs.Delete(ctx, bucket, o.Key, objects.Conditions{}); err != nil {
				return n, err
			}
			n++
		}
		if len(uploads) == 0 && len(page.Objects) == 0 {
			return n, nil
		}
	}
}

// bucketResignCmd signs the stored narinfos again with the bucket's keys.
func bucketResignCmd(fs *flag.FlagSet, data *string, args []string) error {
	every := fs.Int("progress", 1000, "report progress on stderr every `N` narinfos")
	blobs := blobsFlag(fs)
	pos, err := parse(fs, args, 1, 1, "bucket resign NAME [--progress N]")
	if err != nil {
		return err
	}
	name := pos[0]
	return withObjects(*data, *blobs, func(a *admin, objs *objects.Service) error {
		hook := objs.Hook.(*binarycache.Hook)
		start := time.Now()
		res, err := hook.Resign(a.ctx, name, binarycache.ResignOptions{
			Every: *every,
			Progress: func(r binarycache.ResignResult) {
				fmt.Fprintf(os.Stderr, "%s: %d narinfos read, %d re-signed\n", name, r.Narinfos, r.Resigned)
			},
			Announce: a.announceObjects,
		})
		if err != nil && res.Narinfos > 0 {
			return fmt.Errorf("resigning %s: %w (after %d narinfos, %d re-signed; run it again to go on)", name, err, res.Narinfos, res.Resigned)
		}
		if err != nil {
			return fmt.Errorf("resigning %s: %w", name, err)
		}
		switch {
		case res.Resigned == 0:
			fmt.Printf("%s: all %d narinfos already carry a signature by every key; nothing changed\n", name, res.Narinfos-res.Skipped-res.Replaced)
		default:
			fmt.Printf("%s: %d of %d narinfos re-signed in %s\n", name, res.Resigned, res.Narinfos, time.Since(start).Round(time.Millisecond))
		}
		if res.Pulled > 0 {
			fmt.Printf("%s: %d of them pulled from an upstream, NAR not fetched yet: signed on their upstream signature, as when pulled\n", name, res.Pulled)
		}
		if res.Skipped > 0 {
			fmt.Printf("%s: %d narinfos left unsigned by the bucket: their NAR's compression cannot be checked here\n", name, res.Skipped)
		}
		if res.Replaced > 0 {
			fmt.Printf("%s: %d narinfos were replaced or deleted meanwhile and left alone (run again to check them)\n", name, res.Replaced)
		}
		return nil
	})
}

// withObjects runs fn with the data directory open and an object core
// over the servers' blobs (adminBlobSpec: blobsURL, the store the servers
// recorded, or the data directory's), with the binary cache's hook, as
// the server has one.
// The server may be running: the blob store is opened shared (see
// localfs.OpenShared), a server starting meanwhile waits to sweep (see
// server.HoldSweep), the core keeps no memo, and every change is made as
// the server makes it, in one metadata transaction each.
func withObjects(data, blobsURL string, fn func(*admin, *objects.Service) error) error {
	return withAdmin(data, func(a *admin) error {
		// The blobs are --blobs, else those the servers on the store
		// recorded (an S3 store), else the data directory's.
		spec, err := adminBlobSpec(a, blobsURL)
		if err != nil {
			return err
		}
		if spec == "" {
			// A server starting meanwhile sweeps unreferenced blobs
			// only once this run's are referenced. A shared (S3) store
			// is swept by age, not at start: nothing to hold, and the
			// data directory need not be a server's.
			release, err := server.HoldSweep(data)
			if err != nil {
				return err
			}
			defer release()
		}
		blobs, err := server.OpenBlobs(a.ctx, spec, data, true)
		if err != nil {
			return fmt.Errorf("opening the blob store: %w", err)
		}
		defer blobs.Close()
		objs := &objects.Service{
			Meta: a.store, Blobs: blobs, NoMemo: true,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		}
		objs.Hook = &binarycache.Hook{Objects: objs, Keys: a.store}
		return fn(a, objs)
	})
}

// announceObjects tells running servers that this command changed objects,
// so that they drop what they remember of them (objects' memo follows the
// store's generation): a settings write is announced to every process on
// the store. A store that reports each object change to the others
// (meta.ObjectWatcher: PostgreSQL) did so as the change was made.
func (a *admin) announceObjects(ctx context.Context) error {
	if _, ok := a.store.(meta.ObjectWatcher); ok {
		return nil
	}
	return a.store.SetSetting(ctx, "objects-changed-by-admin", time.Now().UTC().Format(time.RFC3339Nano))
}
