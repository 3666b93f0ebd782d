package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/nixbucket/nixbucket/internal/meta/backend"
	"github.com/nixbucket/nixbucket/internal/migrate"
	"github.com/nixbucket/nixbucket/internal/server"
	"github.com/nixbucket/nixbucket/internal/storage/s3store"
)

const migrateSynopsis = `migrate --from-data DIR [--to-meta postgres://…] [--to-blobs s3://…]

Copies an embedded install (the data directory's meta.db and its blobs) to
the scale-out backends: buckets with their policies, settings, signing keys
and pins, objects with the narinfo index, uploads in progress with their
parts, users, access keys and tokens (with --to-meta), and every blob
(with --to-blobs). It can be run again: it copies only what is missing, and
a run cut short finishes. It ends by comparing both sides (object counts,
records, blob sizes and SHA-256) and exits with status 1 on a difference.
The server must be stopped meanwhile. Without --to-blobs the blobs stay
where they are: serve with --data DIR --meta URL then. Without --to-meta
only the blobs move, and DIR keeps the metadata: serve with --data DIR
--blobs URL then. A server refuses a new metadata store until a run has
verified the copy.`

func migrateCmd(args []string) error {
	flags := flag.NewFlagSet("migrate", flag.ContinueOnError)
	from := flags.String("from-data", "", "the data directory to copy (required; its server stopped)")
	toMeta := flags.String("to-meta", "", "the PostgreSQL metadata store to fill, postgres://USER@HOST:PORT/DB (an empty database, or one an earlier run filled); empty: the metadata stays in the data directory and only the blobs move")
	toBlobs := flags.String("to-blobs", "", "the S3 blob store to fill, s3://BUCKET/PREFIX?endpoint=…&region=…&profile=… (its bucket must exist); empty: the blobs stay where they are")
	jobs := flags.Int("jobs", 4, "objects copied (and verified) at once")
	del := flags.Bool("delete", false, "also remove from the destination what the source no longer holds (objects, uploads, users, keys, tokens, pins, signing keys, buckets deleted since an earlier run)")
	hashes := flags.Bool("hashes", true, "verify by comparing every blob's SHA-256 on both sides (reads each blob once more on each); false: compare sizes")
	if _, err := parse(flags, args, 0, 0, migrateSynopsis); err != nil {
		return err
	}
	switch {
	case *from == "":
		return usagef("migrate: --from-data DIR is required")
	case *toMeta == "" && *toBlobs == "":
		return usagef("migrate: --to-meta postgres://… or --to-blobs s3://… (or both) is required")
	case *del && *toMeta == "":
		return usagef("migrate: --delete removes from a destination metadata store: give --to-meta")
	case *toMeta != "" && !backend.IsPostgres(*toMeta):
		return usagef("migrate: --to-meta %q: want postgres://USER@HOST:PORT/DB", backend.Redact(*toMeta))
	}
	dir, err := filepath.Abs(*from)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	lock, err := lockSource(dir)
	if err != nil {
		return err
	}
	defer lock.Close()
	src, err := backend.OpenExisting(dir, "")
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no nixbucket data in %s (no meta.db): %w", dir, err)
	}
	if err != nil {
		return fmt.Errorf("opening %s: %w", dir, olderSchema(err, "nixbucket serve --data "+dir))
	}
	defer src.Close()
	// The blobs are where the data directory's server kept them: its
	// blobs/, or the S3 store it recorded (serve --data DIR --blobs …).
	srcSpec, err := src.Setting(ctx, server.BlobStoreSetting)
	if err != nil {
		return fmt.Errorf("reading the blob store of %s: %w", dir, err)
	}
	blobsAt := filepath.Join(dir, "blobs")
	if srcSpec != "" {
		blobsAt = srcSpec
	}
	if *toBlobs == srcSpec || s3store.SameStore(*toBlobs, srcSpec) {
		*toBlobs = "" // already there
		if *toMeta == "" {
			return fmt.Errorf("migrate: the blobs of %s are already in %s, and there is no --to-meta: nothing to do", dir, srcSpec)
		}
	}
	srcBlobs, err := server.OpenBlobs(ctx, srcSpec, dir, true)
	if err != nil {
		return fmt.Errorf("opening the blobs of %s: %w", dir, err)
	}
	defer srcBlobs.Close()

	c := &migrate.Copier{
		From:     migrate.Stores{Meta: src, Blobs: srcBlobs},
		Source:   "data directory " + dir,
		Jobs:     *jobs,
		Hashes:   *hashes,
		Delete:   *del,
		Progress: os.Stderr,
	}
	metaTo := "stays in " + dir
	if *toMeta != "" {
		dst, err := backend.Open("", *toMeta)
		if err != nil {
			return fmt.Errorf("opening the destination metadata store: %w", err)
		}
		defer dst.Close()
		c.To.Meta = dst
		metaTo = "to " + backend.Redact(*toMeta)
	}
	// The servers on the copy find their blob store recorded, as they
	// record it themselves: the new one, not the source's.
	blobsSpec := srcSpec
	if *toBlobs != "" {
		b, err := server.OpenBlobs(ctx, *toBlobs, "", true)
		if err != nil {
			return err
		}
		defer b.Close()
		c.To.Blobs = b
		blobsSpec = *toBlobs
	}
	c.Settings = map[string]string{server.BlobStoreSetting: blobsSpec}
	blobsTo := "stay in " + blobsAt
	if *toBlobs != "" {
		blobsTo = "to " + *toBlobs
	}
	fmt.Fprintf(os.Stderr, "migrate: from %s; metadata %s; blobs %s\n", dir, metaTo, blobsTo)
	rep, err := c.Run(ctx)
	if rep != nil {
		fmt.Print(rep.String())
	}
	if err != nil {
		return err
	}
	if *toMeta == "" {
		// The data directory's servers now read the new store; the
		// blobs under DIR/blobs are a copy, for the way back.
		if err := src.SetSetting(ctx, server.BlobStoreSetting, *toBlobs); err != nil {
			return fmt.Errorf("recording the new blob store in %s: %w", dir, err)
		}
		fmt.Println("The copy is complete and verified. Start the server on it with:")
		fmt.Printf("  nixbucket serve --data %s --blobs '%s'\n", dir, *toBlobs)
		return nil
	}
	fmt.Println("The copy is complete and verified. Start the servers on it with:")
	switch {
	case blobsSpec != "":
		fmt.Printf("  nixbucket serve --data NEW_DIR --meta '%s' --blobs '%s'\n", backend.Redact(*toMeta), blobsSpec)
	default:
		fmt.Printf("  nixbucket serve --data %s --meta '%s'\n", dir, backend.Redact(*toMeta))
	}
	return nil
}

// lockSource takes the data directory's lock, as a server does, for as
// long as the copy runs: it fails while a server runs there, and keeps
// one from starting meanwhile, so the copy is of a directory at rest.
func lockSource(dir string) (*os.File, error) {
	if _, err := os.Stat(filepath.Join(dir, "meta.db")); err != nil {
		return nil, fmt.Errorf("no nixbucket data in %s (no meta.db): %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("a nixbucket server is running on %s: stop it first, so that nothing changes while it is copied", dir)
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return f, nil
}
