package gc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nixbucket/nixbucket/internal/cacheaux"
	"github.com/nixbucket/nixbucket/internal/meta"
)

// auxTarget is what a debuginfo entry or realisation names, as read once
// per run: the measure reads each, and the sweep judges it by what was
// read, so a run GETs each of them once.
type auxTarget struct {
	kind   cacheaux.Kind
	target string // "" when the body does not parse
}

// auxBytes is the size of an object that goes with the path it names: a
// debuginfo entry, by the key of the NAR it names, or a build log, by the
// key of its derivation's basename.
type auxBytes struct {
	nar  uint64 // the key of what it names
	size int64
	old  bool // older than the grace period
}

// readAux reads o when it is a debuginfo entry or realisation (Kind 0
// otherwise, and when it is gone), remembering what it names for the
// sweep. A changed object (another size or time) is read again.
func (c *Collector) readAux(ctx context.Context, bucket string, g *graph, o meta.Object) (cacheaux.Object, error) {
	if cacheaux.KindOf(o.Key) == 0 {
		return cacheaux.Object{}, nil
	}
	k := auxKey(o.Key, o.Modified)
	if t, ok := g.aux[k]; ok {
		return cacheaux.Object{Key: o.Key, Kind: t.kind, Size: o.Size, Modified: o.Modified, Target: t.target}, nil
	}
	a, err := cacheaux.Read(ctx, c.Objects, bucket, o)
	switch {
	case errors.Is(err, meta.ErrNoSuchKey):
		return cacheaux.Object{}, nil
	case err != nil:
		return cacheaux.Object{}, fmt.Errorf("reading %s/%s: %w", bucket, o.Key, err)
	}
	g.remember(a)
	return a, nil
}

// auxKey identifies a version of a pointing object: its key and time.
func auxKey(k string, modified time.Time) uint64 {
	return key(k + "\x00" + strconv.FormatInt(modified.UnixNano(), 10))
}

func (g *graph) remember(a cacheaux.Object) {
	if g.aux == nil {
		g.aux = map[uint64]auxTarget{}
	}
	g.aux[auxKey(a.Key, a.Modified)] = auxTarget{kind: a.Kind, target: a.Target}
}

// readAllAux reads the bucket's debuginfo entries and realisations in
// pages with their bodies (cacheaux.Scan), so that the run needs no GET
// per object for those it lists.
func (c *Collector) readAllAux(ctx context.Context, bucket string, g *graph) error {
	n := 0
	return cacheaux.Scan(ctx, c.Meta, c.Objects, bucket, func(a cacheaux.Object) error {
		g.remember(a)
		if n++; n%scanPage == 0 {
			c.progress("reading debuginfo entries and realisations", n, 0)
		}
		return nil
	})
}

// attribute adds each object's bytes to the present path whose field
// (url for debuginfo entries, deriver for logs) it names (the first, when
// paths share one), and returns the bytes of the old objects that name no
// present path's.
func (g *graph) attribute(debugs []auxBytes, field []uint64) (orphan int64) {
	slices.SortFunc(debugs, func(a, b auxBytes) int {
		switch {
		case a.nar < b.nar:
			return -1
		case a.nar > b.nar:
			return 1
		}
		return 0
	})
	taken := make([]bool, len(debugs))
	for id := range int32(g.len()) {
		if !g.is(id, fPresent) || field[id] == 0 {
			continue
		}
		i, _ := slices.BinarySearchFunc(debugs, field[id], func(a auxBytes, k uint64) int {
			switch {
			case a.nar < k:
				return -1
			case a.nar > k:
				return 1
			}
			return 0
		})
		for ; i < len(debugs) && debugs[i].nar == field[id] && !taken[i]; i++ {
			g.size[id] += debugs[i].size
			taken[i] = true
		}
	}
	for i, d := range debugs {
		if !taken[i] && d.old {
			orphan += d.size
		}
	}
	return orphan
}
