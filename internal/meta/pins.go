package meta

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrNoSuchPin is returned (wrapped) for a pin a bucket does not have.
var ErrNoSuchPin = errors.New("no such pin")

// Pin is a named reference to store paths of a bucket: GC keeps each of
// its paths with its closure, whatever the retention settings say. Moving
// a pin (PutPin of a name in use) puts the new path first and keeps the
// last Keep revisions, as cachix pins do.
type Pin struct {
	Bucket string
	Name   string
	// Paths are full store paths (/nix/store/HASH-NAME), newest first, at
	// most Keep of them.
	Paths   []string
	Keep    int
	Updated time.Time
}

// Pins is the pins part of the Store. A pin's writes are one transaction
// each, so two CI jobs moving the same pin at once both land, one after
// the other. DeleteBucket removes the bucket's pins.
type Pins interface {
	// PutPin puts p.Paths (newest first) in front of the paths of the pin
	// p.Name, creating it if needed, drops older entries of the same
	// paths, and keeps the first Keep. p.Keep zero keeps the pin's Keep
	// (1 for a new pin); otherwise it becomes the pin's Keep. Updated
	// becomes p.Updated. Each of p.Paths must be the StorePath of one of
	// the bucket's narinfo records, checked in the same transaction:
	// else ErrNoSuchKey, naming the path. ErrNoSuchBucket. An empty name,
	// no path or a negative Keep is an error.
	PutPin(ctx context.Context, p Pin) error
	// Pins returns the bucket's pins sorted by name: ErrNoSuchBucket.
	Pins(ctx context.Context, bucket string) ([]Pin, error)
	// RemovePin deletes a pin: ErrNoSuchPin, also when the bucket is
	// missing.
	RemovePin(ctx context.Context, bucket, name string) error
}

// MovePin returns the paths of a pin moved to newest (newest first) that
// had old: newest, then old without the paths in newest, the first keep.
// Stores use it so that every store moves pins alike.
func MovePin(old, newest []string, keep int) []string {
	out := slices.Clone(newest)
	for _, p := range old {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if keep > 0 && len(out) > keep {
		out = out[:keep]
	}
	return out
}

// CheckPin returns an error for a pin no store accepts: an empty name, no
// path or a negative Keep.
func CheckPin(p Pin) error {
	switch {
	case p.Name == "":
		return fmt.Errorf("pin in %q: empty name", p.Bucket)
	case len(p.Paths) == 0:
		return fmt.Errorf("pin %q in %q: no store path", p.Name, p.Bucket)
	case p.Keep < 0:
		return fmt.Errorf("pin %q in %q: negative keep %d", p.Name, p.Bucket, p.Keep)
	}
	return nil
}

// Pinned adapts Pins to what garbage collection asks: every path some pin
// keeps.
type Pinned struct{ Pins Pins }

// PinnedPaths returns every store path of every pin of the bucket (all
// kept revisions), sorted, without duplicates: ErrNoSuchBucket.
func (p Pinned) PinnedPaths(ctx context.Context, bucket string) ([]string, error) {
	pins, err := p.Pins.Pins(ctx, bucket)
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, pin := range pins {
		paths = append(paths, pin.Paths...)
	}
	slices.Sort(paths)
	return slices.Compact(paths), nil
}
