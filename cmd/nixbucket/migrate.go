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
	"github.com/nixbucket/nixbucket/internal/storage/localfs"
)

const migrateSynopsis = `migrate --from-data DIR --to-meta postgres://… [--to-blobs s3://…]

Copies an embedded install (the data directory's meta.db and blobs/) to the
scale-out backends: buckets with their policies, settings, signing keys and
pins, objects with the narinfo index, uploads in progress with their parts,
users, access keys and tokens, and (with --to-blobs) every blob. It can be
run again: it copies only what is missing, and a run cut short finishes. It
ends by comparing both sides (object counts, records, blob sizes and
SHA-256) and exits with status 1 on a difference. The server must be
stopped meanwhile. Without --to-blobs the blobs stay in DIR: serve with
--data DIR --meta URL then. A server refuses the new store until a run has
verified the copy.`

func migrateCmd(args []string) error {
	flags := flag.NewFlagSet("migrate", flag.ContinueOnError)
	from := flags.String("from-data", "", "the data directory to copy (required; its server stopped)")
	toMeta := flags.String("to-meta", "", "the PostgreSQL metadata store to fill, postgres://USER@HOST:PORT/DB (required; an empty database, or one an earlier run filled)")
	toBlobs := flags.String("to-blobs", "", "the S3 blob store to fill, s3://BUCKET/PREFIX?endpoint=…&region=…&profile=… (its bucket must exist); empty: the blobs stay in the data directory")
	jobs := flags.Int("jobs", 4, "objects copied (and verified) at once")
	hashes := flags.Bool("hashes", true, "verify by comparing every blob's SHA-256 on both sides (reads each blob once more on each); false: compare sizes")
	if _, err := parse(flags, args, 0, 0, migrateSynopsis); err != nil {
		return err
	}
	switch {
	case *from == "":
		return usagef("migrate: --from-data DIR is required")
	case *toMeta == "":
		return usagef("migrate: --to-meta postgres://… is required")
	case !backend.IsPostgres(*toMeta):
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
	srcBlobs, err := localfs.OpenShared(filepath.Join(dir, "blobs"))
	if err != nil {
		return fmt.Errorf("opening the blobs of %s: %w", dir, err)
	}
	defer srcBlobs.Close()

	dst, err := backend.Open("", *toMeta)
	if err != nil {
		return fmt.Errorf("opening the destination metadata store: %w", err)
	}
	defer dst.Close()
	c := &migrate.Copier{
		From:     migrate.Stores{Meta: src, Blobs: srcBlobs},
		To:       migrate.Stores{Meta: dst},
		Source:   "data directory " + dir,
		Jobs:     *jobs,
		Hashes:   *hashes,
		Progress: os.Stderr,
	}
	if *toBlobs != "" {
		b, err := server.OpenBlobs(ctx, *toBlobs, "", true)
		if err != nil {
			return err
		}
		defer b.Close()
		c.To.Blobs = b
	}
	blobsTo := "stay in " + filepath.Join(dir, "blobs")
	if *toBlobs != "" {
		blobsTo = "to " + *toBlobs
	}
	fmt.Fprintf(os.Stderr, "migrate: from %s to %s; blobs %s\n", dir, backend.Redact(*toMeta), blobsTo)
	rep, err := c.Run(ctx)
	if rep != nil {
		fmt.Print(rep.String())
	}
	if err != nil {
		return err
	}
	fmt.Println("The copy is complete and verified. Start the servers on it with:")
	if *toBlobs != "" {
		fmt.Printf("  nixbucket serve --data NEW_DIR --meta '%s' --blobs '%s'\n", backend.Redact(*toMeta), *toBlobs)
	} else {
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
