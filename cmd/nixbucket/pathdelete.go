package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/nixgraph"
	"github.com/nixbucket/nixbucket/internal/pathdelete"
	"github.com/nixbucket/nixbucket/internal/units"
)

// pathDeleteCmd is `nixbucket path delete`: it removes store paths on
// purpose without breaking a closure.
func pathDeleteCmd(args []string) error {
	fs := flag.NewFlagSet("path delete", flag.ContinueOnError)
	data := dataFlag(fs)
	withReferrers := fs.Bool("with-referrers", false, "also delete the paths that refer to them, transitively")
	closure := fs.Bool("closure", false, "also delete their references that nothing else refers to, transitively")
	dryRun := fs.Bool("dry-run", false, "show what would be deleted, and how many bytes, without deleting")
	blobsURL := blobsFlag(fs)
	grace := fs.Duration("grace", pathdelete.DefaultGrace, "--closure keeps references pushed within this time (a push may be in flight)")
	pos, err := parse(fs, args, 2, 1<<20, "path delete BUCKET STOREPATH... [--with-referrers] [--closure] [--dry-run] [--grace 1h] [--data DIR]")
	if err != nil {
		return err
	}
	bucket, names := pos[0], pos[1:]
	return withAdmin(*data, func(a *admin) error {
		ix, err := pathdelete.Load(a.ctx, a.store, bucket)
		if err != nil {
			return fmt.Errorf("path delete %s: %w", bucket, err)
		}
		asked := nixgraph.Set{}
		var unknown []string
		for _, n := range names {
			h, ok := ix.Lookup(n)
			if !ok {
				unknown = append(unknown, n)
				continue
			}
			asked.Add(h)
		}
		if len(unknown) > 0 {
			return fmt.Errorf("path delete %s: not in the bucket: %s", bucket, strings.Join(unknown, " "))
		}
		set := asked
		if *withReferrers {
			set = ix.Graph.WithReferrers(set)
		}
		if out := ix.Graph.OutsideReferrers(set); len(out) > 0 {
			fmt.Fprintf(os.Stderr, "refusing: paths that stay refer to paths being deleted (--with-referrers deletes them too):\n")
			for _, h := range set.Sorted() {
				if refs, ok := out[h]; ok {
					fmt.Fprintf(os.Stderr, "  %s is referred to by\n", ix.Paths[h].StorePath)
					for _, r := range refs {
						fmt.Fprintf(os.Stderr, "    %s\n", ix.Paths[r].StorePath)
					}
				}
			}
			return fmt.Errorf("path delete %s: %d paths are still referred to", bucket, len(out))
		}
		pinned, err := pinsByHash(a, bucket)
		if err != nil {
			return fmt.Errorf("path delete %s: %w", bucket, err)
		}
		if err := refusePinned(bucket, set, pinned, ix); err != nil {
			return err
		}
		if *closure {
			young := ix.Young(time.Now().Add(-*grace))
			keep := func(h string) bool { return young(h) || len(pinned[h]) > 0 }
			all := ix.Graph.OnlyKept(set, nil)
			set = ix.Graph.OnlyKept(set, keep)
			for _, h := range all.Sorted() {
				switch {
				case set.Has(h):
				case len(pinned[h]) > 0:
					fmt.Printf("kept %s  (pinned: %s)\n", ix.Paths[h].StorePath, strings.Join(pinned[h], " "))
				case young(h):
					fmt.Printf("kept %s  (pushed within %v: a push in flight may refer to it; gc collects it later)\n", ix.Paths[h].StorePath, *grace)
				}
			}
		}
		withRefs := ix.Graph.WithReferrers(asked)
		plan := ix.Plan(bucket, set)
		objs, blobs, err := adminObjects(a, *data, *blobsURL)
		if err != nil {
			return err
		}
		defer blobs.Close()
		if err := pathdelete.Pointing(a.ctx, a.store, objs, &plan); err != nil {
			return fmt.Errorf("path delete %s: %w", bucket, err)
		}
		sizes, err := pathdelete.Measure(a.ctx, objs, &plan)
		if err != nil {
			return fmt.Errorf("path delete %s: %w", bucket, err)
		}
		verb := "deleted"
		if *dryRun {
			verb = "would delete"
		}
		for _, h := range plan.Order {
			why := ""
			switch {
			case asked.Has(h):
			case withRefs.Has(h):
				why = "  (refers to a deleted path)"
			default:
				why = "  (only deleted paths kept it)"
			}
			fmt.Printf("%s %s%s\n", verb, ix.Paths[h].StorePath, why)
		}
		if !*dryRun {
			err = pathdelete.Execute(a.ctx, objs, plan, nil)
			if aerr := a.announceObjects(a.ctx); err == nil {
				err = aerr
			}
			if err != nil {
				return fmt.Errorf("path delete %s: %w", bucket, err)
			}
		}
		printSizes(os.Stdout, verb, sizes)
		return nil
	})
}

func printSizes(w io.Writer, verb string, s pathdelete.Sizes) {
	fmt.Fprintf(w, "%s %d paths: %d narinfos (%s), %d NARs (%s), %d listings (%s), %d logs (%s)%s; %s in all\n",
		verb, s.NarinfoCount, s.NarinfoCount, units.Bytes(s.Narinfos), s.NARCount, units.Bytes(s.NARs),
		s.ListingCount, units.Bytes(s.Listings), s.LogCount, units.Bytes(s.Logs), auxSizes(s), units.Bytes(s.Total()))
}

// auxSizes describes the debuginfo entries and realisations of s, if any.
func auxSizes(s pathdelete.Sizes) string {
	if s.AuxCount == 0 {
		return ""
	}
	return fmt.Sprintf(", %d debuginfo entries and realisations (%s)", s.AuxCount, units.Bytes(s.Aux))
}

// pinsByHash returns the names of the bucket's pins that name each path,
// by store path hash.
func pinsByHash(a *admin, bucket string) (map[string][]string, error) {
	pins, err := a.store.Pins(a.ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("pins: %w", err)
	}
	out := map[string][]string{}
	for _, p := range pins {
		for _, sp := range p.Paths {
			h := nixgraph.RefHash(sp)
			out[h] = append(out[h], p.Name)
		}
	}
	return out, nil
}

// refusePinned refuses to delete a pinned path: a pin promises its path
// stays, so the pin goes first (nixbucket pin remove).
func refusePinned(bucket string, set nixgraph.Set, pinned map[string][]string, ix *pathdelete.Index) error {
	n := 0
	for _, h := range set.Sorted() {
		if names := pinned[h]; len(names) > 0 {
			if n == 0 {
				fmt.Fprintf(os.Stderr, "refusing: pinned paths would be deleted (nixbucket pin remove %s NAME first):\n", bucket)
			}
			n++
			fmt.Fprintf(os.Stderr, "  %s is pinned by %s\n", ix.Paths[h].StorePath, strings.Join(names, " "))
		}
	}
	if n > 0 {
		return fmt.Errorf("path delete %s: %d paths are pinned", bucket, n)
	}
	return nil
}
