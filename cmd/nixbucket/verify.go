package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/server"
	"github.com/nixbucket/nixbucket/internal/units"
	"github.com/nixbucket/nixbucket/internal/verify"
)

// adminObjects opens the object core over the server's blobs for an
// admin command that reads and deletes objects while a server may be
// running: no memo (the server writes too), and a blob store opened
// shared, so nothing of the server's uploads in flight is swept. The
// blobs are those --blobs names, else the ones the servers on the store
// recorded (server.BlobStoreSetting), else the data directory's.
func adminObjects(a *admin, data, blobsURL string) (*objects.Service, server.BlobStore, error) {
	spec, err := adminBlobSpec(a, blobsURL)
	if err != nil {
		return nil, nil, err
	}
	blobs, err := server.OpenBlobs(a.ctx, spec, data, true)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the blob store: %w", err)
	}
	return &objects.Service{Meta: a.store, Blobs: blobs, NoMemo: true}, blobs, nil
}

// adminBlobSpec is the blob store an admin command works on: --blobs, or
// the one the servers on the store recorded.
func adminBlobSpec(a *admin, blobsURL string) (string, error) {
	if blobsURL != "" {
		return blobsURL, nil
	}
	spec, err := a.store.Setting(a.ctx, server.BlobStoreSetting)
	if err != nil {
		return "", fmt.Errorf("reading the servers' blob store: %w", err)
	}
	if spec != "" {
		fmt.Fprintf(os.Stderr, "blobs: %s (as the servers on this store use; --blobs to say otherwise)\n", spec)
	}
	return spec, nil
}

// verifyExamples is how many problems of each kind the report shows.
const verifyExamples = 10

func verifyCmd(args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	data := dataFlag(fs)
	deep := fs.Bool("deep", false, "also decode every NAR and check its NarHash and NarSize")
	repair := fs.Bool("repair", false, "remove broken narinfos with their referrers, and orphan blobs")
	blobsURL := blobsFlag(fs)
	jobs := fs.Int("jobs", runtime.NumCPU(), "NARs hashed at once")
	grace := fs.Duration("grace", verify.DefaultGrace, "unreferenced blobs, debuginfo entries and realisations younger than this are not judged (a push may be in flight)")
	pos, err := parse(fs, args, 1, 1, "verify BUCKET [--deep] [--repair] [--jobs N] [--grace 1h] [--data DIR]")
	if err != nil {
		return err
	}
	bucket := pos[0]
	yieldToServer(*data)
	return withAdmin(*data, func(a *admin) error {
		objs, blobs, err := adminObjects(a, *data, *blobsURL)
		if err != nil {
			return err
		}
		defer blobs.Close()
		c := &verify.Checker{Store: a.store, Objects: objs, Blobs: blobs, Jobs: *jobs, Deep: *deep, Examples: verifyExamples, ForRepair: *repair, Grace: *grace}
		stop := verifyProgress(os.Stderr, bucket, &c.Progress)
		rep, err := c.Check(a.ctx, bucket)
		stop()
		if err != nil {
			return err
		}
		printVerifyReport(os.Stdout, rep)
		problems := rep.Problems()
		if problems == 0 {
			return nil
		}
		if !*repair {
			if rep.Repairable() > 0 {
				fmt.Printf("nixbucket verify %s --repair removes the broken narinfos, what refers to them, the dangling debuginfo entries and realisations, and the orphan blobs\n", bucket)
			}
			return fmt.Errorf("verify %s: %d problems", bucket, problems)
		}
		removed, err := c.Repair(a.ctx, rep)
		if aerr := a.announceObjects(a.ctx); err == nil {
			err = aerr
		}
		printRepair(os.Stdout, bucket, removed)
		if err != nil {
			return err
		}
		if left := problems - rep.Repaired(removed); left > 0 {
			return fmt.Errorf("verify %s: %d problems left that --repair does not remove", bucket, left)
		}
		return nil
	})
}

// verifyProgress shows a progress line on w every second while a check
// runs, when w is a terminal (nothing otherwise: the report is the
// output); it returns the function that stops it and clears the line.
func verifyProgress(w *os.File, bucket string, p *verify.Progress) (stop func()) {
	fi, err := w.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 || os.Getenv("TERM") == "dumb" {
		return func() {}
	}
	t := time.NewTicker(time.Second)
	stopLine := progressLine(w, t.C, bucket, p)
	return func() { t.Stop(); stopLine() }
}

// progressLine rewrites one line on w at each tick: narinfos checked of
// the total, bytes read, and the rate since it began.
func progressLine(w io.Writer, tick <-chan time.Time, bucket string, p *verify.Progress) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				fmt.Fprint(w, "\r\033[K")
				return
			case <-tick:
			}
			bytes := p.Bytes.Load()
			rate := float64(bytes) / max(time.Since(start).Seconds(), 0.001)
			fmt.Fprintf(w, "\r\033[Kverify %s: %d/%d narinfos, %s read, %s/s", bucket,
				p.Checked.Load(), p.Total.Load(), units.Bytes(bytes), units.Bytes(int64(rate)))
		}
	})
	return func() { cancel(); wg.Wait() }
}

func printVerifyReport(w io.Writer, r *verify.Report) {
	what := "re-hashed"
	if r.Deep {
		what = "re-hashed and decoded"
	}
	fmt.Fprintf(w, "verify %s: %d narinfos, their NARs %s (%s), %d objects, %d blobs\n",
		r.Bucket, r.Narinfos, what, units.Bytes(r.Bytes), r.Objects, r.Blobs)
	if r.NoKeys {
		fmt.Fprintf(w, "signatures not checked: the bucket has no signing key\n")
	}
	if r.Undecoded > 0 {
		fmt.Fprintf(w, "not decoded: %d NARs in a compression nixbucket cannot decode\n", r.Undecoded)
	}
	if r.YoungBlobs > 0 {
		fmt.Fprintf(w, "not judged: %d unreferenced blobs younger than %v (an upload in flight commits its blob before its object)\n", r.YoungBlobs, r.Grace)
	}
	if r.YoungAux > 0 {
		fmt.Fprintf(w, "not judged: %d debuginfo entries and realisations younger than %v (Nix writes debuginfo entries before their NAR)\n", r.YoungAux, r.Grace)
	}
	if r.AuxUnparsed > 0 {
		fmt.Fprintf(w, "not judged: %d debuginfo entries and realisations that do not parse\n", r.AuxUnparsed)
	}
	printPending(w, r)
	n := r.Problems()
	if n == 0 {
		fmt.Fprintln(w, "clean: no problems")
		return
	}
	fmt.Fprintf(w, "%d problems:\n", n)
	for _, k := range verify.Kinds {
		c := r.Counts[k]
		if c == 0 {
			continue
		}
		fmt.Fprintf(w, "  %s: %d\n", k, c)
		for _, ex := range r.Examples[k] {
			fmt.Fprintf(w, "    %s\n", ex)
		}
		if more := c - len(r.Examples[k]); more > 0 {
			fmt.Fprintf(w, "    … and %d more\n", more)
		}
	}
}

func printRepair(w io.Writer, bucket string, rm verify.Removed) {
	fmt.Fprintf(w, "repair %s:\n", bucket)
	for _, p := range rm.Broken {
		fmt.Fprintf(w, "  removed %s (broken)\n", p)
	}
	for _, p := range rm.Referrers {
		fmt.Fprintf(w, "  removed %s (refers to a broken path)\n", p)
	}
	if s := rm.Sizes; len(rm.Plan.Order) > 0 {
		fmt.Fprintf(w, "  removed %d narinfos, %d NARs, %d listings, %d logs%s: %s\n",
			s.NarinfoCount, s.NARCount, s.ListingCount, s.LogCount, auxSizes(s), units.Bytes(s.Total()))
	}
	for _, k := range rm.Dangling {
		fmt.Fprintf(w, "  removed %s (names a missing NAR or path)\n", k)
	}
	if len(rm.Orphans) > 0 {
		fmt.Fprintf(w, "  removed %d orphan blobs: %s\n", len(rm.Orphans), strings.Join(rm.Orphans, " "))
	}
	if len(rm.Broken)+len(rm.Referrers) > 0 {
		fmt.Fprintf(w, "  paths that only the removed ones kept stay until `nixbucket gc %s` collects them\n", bucket)
	}
}

// printPending shows the paths of a pull-through bucket that are not
// whole in it yet (see verify/pulled.go): not problems, so --repair
// leaves them, but worth a line.
func printPending(w io.Writer, r *verify.Report) {
	show := func(what string, n int, examples []string) {
		if n == 0 {
			return
		}
		fmt.Fprintf(w, "%s: %d (not a problem)\n", what, n)
		for _, ex := range examples {
			fmt.Fprintf(w, "    %s\n", ex)
		}
		if more := n - len(examples); more > 0 {
			fmt.Fprintf(w, "    … and %d more\n", more)
		}
	}
	show("pulled, NAR not fetched yet (its first GET fetches it from upstream)", r.Pending, r.PendingExamples)
	show("pulled, references not pulled yet (a narinfo GET pulls each)", r.PendingRefs, r.PendingRefExamples)
}
