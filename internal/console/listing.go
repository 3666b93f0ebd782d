package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// MaxEntries bounds the entries of one directory the page lists; the rest
// are counted. A directory of 230,000 files made a 20 MB page that took
// 20 s to render, for any reader of a public cache, as often as asked.
const MaxEntries = 2000

// lsNode is a node of a .ls listing (Nix's JSON of a NAR's tree).
type lsNode struct {
	Type       string            `json:"type"`
	Size       int64             `json:"size"`
	Executable bool              `json:"executable"`
	Target     string            `json:"target"`
	Entries    map[string]lsNode `json:"entries"`
}

// lsFile is a node of a listing as the console keeps it: a directory's
// entries sorted by name once, rather than a map sorted at every view.
type lsFile struct {
	Type       string
	Size       int64
	Executable bool
	Target     string
	Names      []string // a directory's entries, sorted
	Entries    []*lsFile
}

// compact returns n as an lsFile, and roughly what it costs in memory.
func compact(n *lsNode) (*lsFile, int) {
	f := &lsFile{Type: n.Type, Size: n.Size, Executable: n.Executable, Target: n.Target}
	cost := 64 + len(n.Target)
	f.Names = sortedKeys(n.Entries)
	for _, name := range f.Names {
		e := n.Entries[name]
		c, k := compact(&e)
		f.Entries = append(f.Entries, c)
		cost += k + len(name) + 24
	}
	return f, cost
}

// testHookParseListing, if set, runs at each parse of a listing.
var testHookParseListing func()

// parseListing decodes a .ls listing, at most MaxListing bytes.
func parseListing(r io.Reader) (*lsFile, int, error) {
	if testHookParseListing != nil {
		testHookParseListing()
	}
	var ls struct {
		Version int    `json:"version"`
		Root    lsNode `json:"root"`
	}
	lim := &io.LimitedReader{R: r, N: MaxListing + 1}
	if err := json.NewDecoder(lim).Decode(&ls); err != nil {
		if lim.N <= 0 {
			return nil, 0, fmt.Errorf("the listing is larger than %d bytes", MaxListing)
		}
		return nil, 0, fmt.Errorf("unreadable listing: %v", err)
	}
	root, cost := compact(&ls.Root)
	return root, cost, nil
}

// readListing fills d with the directory d.Dir of the listing r.
func readListing(r io.Reader, d *pathData) error {
	root, _, err := parseListing(r)
	if err != nil {
		return err
	}
	return fillListing(root, d)
}

// fillListing fills d with the directory d.Dir of the listing root.
func fillListing(root *lsFile, d *pathData) error {
	cur := root
	walked := ""
	if d.Dir != "" {
		for _, part := range strings.Split(d.Dir, "/") {
			i, ok := slices.BinarySearch(cur.Names, part)
			if !ok || cur.Entries[i].Type != "directory" {
				return fmt.Errorf("no directory %q in the listing", d.Dir)
			}
			walked = path.Join(walked, part)
			d.Parents = append(d.Parents, entry{Name: part, Dir: walked})
			cur = cur.Entries[i]
		}
	}
	d.Listing = true
	if cur.Type != "directory" {
		d.Entries = []entry{{Name: path.Base(d.Name), Type: cur.Type, Size: cur.Size, Exec: cur.Executable, Target: cur.Target}}
		return nil
	}
	names := cur.Names
	if len(names) > MaxEntries {
		d.EntriesMore = len(names) - MaxEntries
		names = names[:MaxEntries]
	}
	for i, name := range names {
		e := cur.Entries[i]
		d.Entries = append(d.Entries, entry{Name: name, Type: e.Type, Size: e.Size, Exec: e.Executable, Target: e.Target, Dir: path.Join(d.Dir, name)})
	}
	return nil
}

// listing fills d with the directory d.Dir of the path's .ls listing.
func (h *Handler) listing(ctx context.Context, bucket, hash string, d *pathData) error {
	root, err := h.keptListing(ctx, bucket, hash)
	if err != nil || root == nil {
		return err
	}
	return fillListing(root, d)
}

// listings keeps the listings the store path pages showed last, parsed,
// each under the objects.Version of its bucket it was read at, as graphs
// keeps graphs: every view of a path page, whichever directory it showed,
// read and decoded the path's whole listing, 0.4 to 0.8 s for one of
// 200,000 files, for anyone a public bucket lets in, as often as asked.
// A change to any object of the bucket, on any server, makes the next
// page read it again.
type listings struct {
	mu      sync.Mutex
	entries map[string]*listingEntry // bucket "/" hash
	tick    uint64
}

// maxListingBytes bounds what listings keeps (their cost): past it the
// least recently used go.
const maxListingBytes = 64 << 20

// entryCost is what an entry of listings costs beside its listing.
const entryCost = 256

type listingEntry struct {
	load   sync.Mutex // held while reading
	ver    objects.Version
	loaded bool
	root   *lsFile // nil: no listing
	err    error   // the listing is unreadable
	cost   int
	used   uint64
}

// keptListing returns the path's listing (nil when it has none), from
// memory while its bucket has not changed.
func (h *Handler) keptListing(ctx context.Context, bucket, hash string) (*lsFile, error) {
	var ver objects.Version
	ok := false
	if h.objects != nil {
		ver, ok = h.objects.BucketVersion(ctx, bucket)
	}
	if !ok {
		root, _, err := h.readListingObject(ctx, bucket, hash)
		return root, err
	}
	c := &h.listings
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]*listingEntry{}
	}
	key := bucket + "/" + hash
	e := c.entries[key]
	if e == nil {
		e = &listingEntry{}
		c.entries[key] = e
	}
	c.tick++
	e.used = c.tick
	c.mu.Unlock()

	e.load.Lock()
	if e.loaded && e.ver == ver {
		defer e.load.Unlock()
		return e.root, e.err
	}
	root, cost, err := h.readListingObject(ctx, bucket, hash)
	var bad *badListing
	if err != nil && !errors.As(err, &bad) {
		e.load.Unlock()
		return nil, err // the store failed: read again next time
	}
	// An entry costs something even without a listing, so that the
	// entries of many paths' pages are bounded too.
	e.root, e.err, e.cost, e.ver, e.loaded = root, err, cost+entryCost, ver, true
	e.load.Unlock()
	c.trim()
	return root, err
}

// readListingObject reads and parses the path's listing: nil for none,
// and an error of type *badListing for one that does not parse.
func (h *Handler) readListingObject(ctx context.Context, bucket, hash string) (*lsFile, int, error) {
	rc, err := h.open(ctx, bucket, hash+".ls")
	if errors.Is(err, meta.ErrNoSuchKey) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer rc.Close()
	root, cost, err := parseListing(rc)
	if err != nil {
		return nil, 0, &badListing{err}
	}
	return root, cost, nil
}

// badListing is a listing that does not parse: that is kept too.
type badListing struct{ error }

// trim drops the least recently used listings while those kept cost more
// than maxListingBytes. Entries being read are left alone.
func (c *listings) trim() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		total, oldest := 0, ""
		for k, e := range c.entries {
			if !e.load.TryLock() {
				continue
			}
			total += e.cost
			if oldest == "" || e.used < c.entries[oldest].used {
				oldest = k
			}
			e.load.Unlock()
		}
		if total <= maxListingBytes || oldest == "" {
			return
		}
		delete(c.entries, oldest)
	}
}

// forgetListings drops the listings of the buckets exists reports gone.
func (h *Handler) forgetListings(exists func(bucket string) bool) {
	h.listings.mu.Lock()
	defer h.listings.mu.Unlock()
	for k := range h.listings.entries {
		if b, _, _ := strings.Cut(k, "/"); !exists(b) {
			delete(h.listings.entries, k)
		}
	}
}
