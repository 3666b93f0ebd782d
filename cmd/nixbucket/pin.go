package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nixbucket/nixbucket/internal/nix/storepath"
	"github.com/nixbucket/nixbucket/internal/pins"
)

const pinNote = `A pin keeps its store paths, with their closures, whatever the bucket's
retention settings say. Adding a name in use moves the pin: the new path
goes first and the pin keeps its last N revisions (--keep, default 1).
CI can pin over HTTP: PUT /-/api/buckets/BUCKET/pins/NAME (see the README).
` + dataNote

// pinCmd runs `nixbucket pin add|list|remove`.
func pinCmd(args []string) error {
	if len(args) == 0 {
		return usagef("usage: nixbucket pin add|list|remove")
	}
	fs := flag.NewFlagSet("pin "+args[0], flag.ContinueOnError)
	data := dataFlag(fs)
	switch args[0] {
	case "add":
		keep := fs.Int("keep", 0, "how many revisions the pin keeps, newest first (default: the pin's, 1 for a new pin)")
		pos, err := parse(fs, args[1:], 3, 3, "pin add BUCKET NAME STOREPATH [--keep N]")
		if err != nil {
			return err
		}
		if *keep < 0 || *keep > pins.MaxKeep {
			return usagef("--keep %d: want 1 to %d", *keep, pins.MaxKeep)
		}
		bucket, name := pos[0], pos[1]
		sp, err := localStorePath(pos[2])
		if err != nil {
			return err
		}
		return withAdmin(*data, func(a *admin) error {
			svc := &pins.Service{Store: a.store}
			p, err := svc.Add(a.ctx, bucket, name, sp, *keep)
			if err != nil {
				return fmt.Errorf("pin add: %w", err)
			}
			fmt.Printf("pinned %s in %s: %s (keeps %d)\n", name, bucket, p.Paths[0], p.Keep)
			return nil
		})
	case "list":
		pos, err := parse(fs, args[1:], 1, 1, "pin list BUCKET")
		if err != nil {
			return err
		}
		return withAdmin(*data, func(a *admin) error {
			ps, err := (&pins.Service{Store: a.store}).List(a.ctx, pos[0])
			if err != nil {
				return fmt.Errorf("pin list: %w", err)
			}
			if len(ps) == 0 {
				fmt.Fprintf(os.Stderr, "bucket %s has no pins\n", pos[0])
				return nil
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKEEP\tUPDATED\tPATHS (newest first)")
			for _, p := range ps {
				for i, sp := range p.Paths {
					if i == 0 {
						fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", p.Name, p.Keep, p.Updated.UTC().Format(time.RFC3339), sp)
					} else {
						fmt.Fprintf(tw, "\t\t\t%s\n", sp)
					}
				}
			}
			return tw.Flush()
		})
	case "remove":
		pos, err := parse(fs, args[1:], 2, 2, "pin remove BUCKET NAME")
		if err != nil {
			return err
		}
		return withAdmin(*data, func(a *admin) error {
			if err := (&pins.Service{Store: a.store}).Remove(a.ctx, pos[0], pos[1]); err != nil {
				return fmt.Errorf("pin remove: %w", err)
			}
			return nil
		})
	}
	return usagef("unknown pin command %q (add, list, remove)", args[0])
}

// localStorePath returns the store path arg names: arg itself when it is
// one, else the store path a local file (such as nix-build's ./result
// link) resolves into.
func localStorePath(arg string) (string, error) {
	if p, err := storepath.Parse(arg); err == nil {
		return p.String(), nil
	}
	resolved, err := filepath.EvalSymlinks(arg)
	if err != nil {
		return "", fmt.Errorf("%q is not a store path (/nix/store/HASH-NAME) nor a link to one", arg)
	}
	abs, _ := filepath.Abs(resolved)
	p, err := storepath.Containing(storepath.DefaultDir, abs)
	if err != nil || !strings.HasPrefix(abs, storepath.DefaultDir+"/") {
		return "", fmt.Errorf("%q resolves to %s, which is not in %s", arg, abs, storepath.DefaultDir)
	}
	return p.String(), nil
}
