// Package verify checks a bucket the way fsck checks a file system: every
// narinfo's NAR is there with the FileSize and FileHash it states (by
// re-hashing the stored bytes), its references are in the bucket, it is
// signed by one of the bucket's keys, and (deep) its NAR decodes to its
// NarHash and NarSize; every debuginfo entry's NAR and every realisation's
// path is there; every object's blobs exist, and no blob is left that
// nothing refers to. Repair removes what is broken together with
// what refers to it, through the object core, so that every narinfo left
// has its whole closure.
package verify

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nixbucket/nixbucket/internal/cacheaux"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nix/codec"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
	"github.com/nixbucket/nixbucket/internal/nixgraph"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/pathdelete"
	"github.com/nixbucket/nixbucket/internal/storage"
)

// Store is what verifying needs of the metadata store.
type Store interface {
	pathdelete.Scanner
	CacheStats(ctx context.Context, bucket string) (meta.CacheStats, error)
	Narinfo(ctx context.Context, bucket, hash string) (meta.Narinfo, error)
	SigningKeys(ctx context.Context, bucket string) ([]meta.SigningKey, error)
	CacheSettings(ctx context.Context, bucket string) (meta.CacheSettings, error)
	ScanObjects(ctx context.Context, q meta.ScanQuery) ([]meta.Object, error)
	Object(ctx context.Context, bucket, key string) (meta.Object, error)
	Referenced(ctx context.Context, blobs []string) (map[string]bool, error)
}

// Objects is what verifying needs of the object core: reads, and the
// deletes of a repair.
type Objects interface {
	pathdelete.Objects
	Get(ctx context.Context, bucket, key string) (meta.Object, *objects.Reader, error)
}

// DefaultGrace is how old an unreferenced blob must be to be an orphan:
// a blob younger may belong to an upload in flight, committed but not
// yet recorded (as gc-grace).
const DefaultGrace = time.Hour

// Checker verifies buckets. Set the fields before use.
type Checker struct {
	Store   Store
	Objects Objects
	Blobs   storage.Backend
	Jobs    int  // narinfos checked at once; zero means GOMAXPROCS
	Deep    bool // also decode every NAR and check NarHash and NarSize
	// ForRepair keeps every path's record in memory (its store path and
	// objects) for Repair to plan its deletes; without it the check keeps
	// only the reference graph, a fraction of the memory on a large
	// bucket, and Repair refuses the report.
	ForRepair bool
	Grace     time.Duration // zero means DefaultGrace
	Now       func() time.Time
	// Examples is how many problems of each kind a report keeps; zero
	// means 10.
	Examples int
	// Progress counts as the check goes, for a progress line.
	Progress Progress
}

// Progress is read while a check runs.
type Progress struct {
	Checked atomic.Int64 // narinfos checked
	Total   atomic.Int64 // narinfos in the bucket when the check began
	Bytes   atomic.Int64 // NAR bytes read
}

// Kind is a kind of problem.
type Kind string

// The kinds of problems, in report order. Those marked broken make a
// narinfo broken: repair removes it and its referrers.
const (
	MissingNAR       Kind = "NAR missing"                            // broken
	UnreadableNAR    Kind = "NAR unreadable"                         // broken
	BadFileSize      Kind = "FileSize does not match the NAR"        // broken
	BadFileHash      Kind = "FileHash does not match the NAR"        // broken
	BadNarSize       Kind = "NarSize does not match the decoded NAR" // broken
	BadNarHash       Kind = "NarHash does not match the decoded NAR" // broken
	Undecodable      Kind = "NAR does not decode"                    // broken
	MissingReference Kind = "reference missing"                      // broken
	Unsigned         Kind = "unsigned"
	UnknownKey       Kind = "signed by unknown key"
	BadSignature     Kind = "bad signature"
	// DanglingDebugInfo and DanglingRealisation are debuginfo entries and
	// CA realisations whose NAR or path is gone (see aux.go).
	DanglingDebugInfo   Kind = "debuginfo names a missing NAR"
	DanglingRealisation Kind = "realisation names a missing path"
	MissingBlob         Kind = "object points at a missing blob"
	OrphanBlob          Kind = "orphan blob"
)

// Kinds lists every kind in report order.
var Kinds = []Kind{MissingNAR, UnreadableNAR, BadFileSize, BadFileHash, BadNarSize, BadNarHash,
	Undecodable, MissingReference, Unsigned, UnknownKey, BadSignature, DanglingDebugInfo, DanglingRealisation,
	MissingBlob, OrphanBlob}

// Broken reports whether a problem of kind k makes its narinfo broken.
func (k Kind) Broken() bool {
	switch k {
	case MissingNAR, UnreadableNAR, BadFileSize, BadFileHash, BadNarSize, BadNarHash, Undecodable, MissingReference:
		return true
	}
	return false
}

// Report is the outcome of a check.
type Report struct {
	Bucket     string
	Narinfos   int64 // checked
	Objects    int64 // objects of the bucket whose blobs were checked
	Blobs      int64 // blobs in the blob store (all buckets)
	YoungBlobs int64 // blobs younger than the grace, not judged
	Bytes      int64 // NAR bytes re-hashed
	Deep       bool
	Grace      time.Duration
	NoKeys     bool // the bucket has no signing keys: signatures not checked
	Counts     map[Kind]int
	Examples   map[Kind][]string
	Undecoded  int64 // NARs --deep could not decode for want of a codec
	// Upstreams: the bucket pulls through (see pulled.go).
	Upstreams bool
	// Pending counts the narinfos pulled from an upstream whose NAR is
	// not fetched yet, PendingRefs those whose references are not pulled
	// yet: neither is a problem. Their examples are store paths.
	Pending, PendingRefs                int
	PendingExamples, PendingRefExamples []string
	// Aux counts the debuginfo entries and realisations seen; of them
	// YoungAux were younger than the grace and AuxUnparsed did not parse,
	// neither judged.
	Aux, YoungAux, AuxUnparsed int
	dangling                   []cacheaux.Object
	broken                     nixgraph.Set
	orphans                    []string
	missingBlobKeys            []string
	index                      *pathdelete.Index
	maxExamples                int
	mu                         sync.Mutex
}

// Problems is the number of problems found.
func (r *Report) Problems() int {
	n := 0
	for _, c := range r.Counts {
		n += c
	}
	return n
}

func (r *Report) add(k Kind, hash, example string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Counts[k]++
	if len(r.Examples[k]) < r.maxExamples {
		r.Examples[k] = append(r.Examples[k], example)
	}
	if k.Broken() && hash != "" {
		r.broken.Add(hash)
	}
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Checker) grace() time.Duration {
	if c.Grace > 0 {
		return c.Grace
	}
	return DefaultGrace
}

// Check verifies bucket and returns what it found. An error means the
// check itself could not run to the end (the store failed), not that it
// found problems.
func (c *Checker) Check(ctx context.Context, bucket string) (*Report, error) {
	r := &Report{Bucket: bucket, Deep: c.Deep, Grace: c.grace(), Counts: map[Kind]int{}, Examples: map[Kind][]string{},
		broken: nixgraph.Set{}, index: pathdelete.NewIndex(), maxExamples: c.Examples}
	if r.maxExamples <= 0 {
		r.maxExamples = 10
	}
	stats, err := c.Store.CacheStats(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", bucket, err)
	}
	c.Progress.Total.Store(stats.Paths)
	keys, err := c.publicKeys(ctx, bucket)
	if err != nil {
		return nil, err
	}
	r.NoKeys = len(keys) == 0
	cs, err := c.Store.CacheSettings(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", bucket, err)
	}
	r.Upstreams = cs.Upstreams != ""
	if err := c.checkNarinfos(ctx, r, keys); err != nil {
		return nil, err
	}
	if err := c.checkReferences(ctx, r); err != nil {
		return nil, err
	}
	if err := c.checkAux(ctx, r); err != nil {
		return nil, err
	}
	blobs, err := c.walkBlobs(ctx, r)
	if err != nil {
		return nil, err
	}
	if err := c.checkObjects(ctx, r, bucket, blobs); err != nil {
		return nil, err
	}
	return r, nil
}

// checkReferences reports the narinfos whose references the scan did
// not find, each looked up again: a path deleted since the scan (gc
// deletes referrers first), or a reference pushed during it below the
// scan's position, is no problem.
func (c *Checker) checkReferences(ctx context.Context, r *Report) error {
	missing := r.index.Graph.Missing()
	for _, h := range slices.Sorted(maps.Keys(missing)) {
		gone, err := c.gone(ctx, r.Bucket, h)
		if err != nil {
			return err
		}
		if gone {
			continue
		}
		var still []string
		for _, m := range missing[h] {
			absent, err := c.gone(ctx, r.Bucket, m)
			if err != nil {
				return err
			}
			if absent {
				still = append(still, m)
			}
		}
		if len(still) == 0 {
			continue
		}
		pulled, err := c.pulled(ctx, r, h)
		if err != nil {
			return err
		}
		if pulled {
			r.addPendingRefs(c.missingExample(ctx, r, h, still))
			continue
		}
		r.add(MissingReference, h, c.missingExample(ctx, r, h, still))
	}
	return nil
}

// gone reports whether the bucket has no narinfo for hash now.
func (c *Checker) gone(ctx context.Context, bucket, hash string) (bool, error) {
	_, err := c.Store.Narinfo(ctx, bucket, hash)
	if errors.Is(err, meta.ErrNoSuchKey) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("verify %s: %w", bucket, err)
	}
	return false, nil
}

// missingExample says which references of path hash are missing, by
// store path while the report still wants examples (the index keeps
// hashes only: the record is read again).
func (c *Checker) missingExample(ctx context.Context, r *Report, hash string, missing []string) string {
	sp := hash
	names := slices.Clone(missing)
	if r.Counts[MissingReference] < r.maxExamples {
		if n, err := c.Store.Narinfo(ctx, r.Bucket, hash); err == nil {
			sp = n.StorePath
			dir := sp[:max(strings.LastIndexByte(sp, '/'), 0)]
			for i, m := range missing {
				for _, ref := range n.References {
					if nixgraph.RefHash(ref) == m {
						names[i] = dir + "/" + ref
					}
				}
			}
		}
	}
	return fmt.Sprintf("%s: %s not in the bucket", sp, strings.Join(names, ", "))
}

func (c *Checker) publicKeys(ctx context.Context, bucket string) ([]signature.PublicKey, error) {
	sks, err := c.Store.SigningKeys(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("verify %s: signing keys: %w", bucket, err)
	}
	var keys []signature.PublicKey
	for _, k := range sks {
		sk, err := signature.ParseSecretKey(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("verify %s: signing key %s: %w", bucket, k.Name, err)
		}
		keys = append(keys, sk.Public())
	}
	return keys, nil
}

// checkNarinfos streams the index to Jobs workers, building the
// reference graph as it goes.
func (c *Checker) checkNarinfos(ctx context.Context, r *Report, keys []signature.PublicKey) error {
	jobs := c.Jobs
	if jobs <= 0 {
		jobs = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan meta.Narinfo, 4*jobs)
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for range jobs {
		wg.Go(func() {
			buf := make([]byte, 256<<10)
			for n := range work {
				if err := c.checkNarinfo(ctx, r, n, keys, buf); err != nil {
					failed.CompareAndSwap(nil, &err)
					cancel()
				}
				c.Progress.Checked.Add(1)
			}
		})
	}
	var scanErr error
	after := ""
scan:
	for {
		page, err := c.Store.ScanNarinfos(ctx, r.Bucket, after, 1000)
		if err != nil {
			scanErr = fmt.Errorf("verify %s: reading the narinfo index: %w", r.Bucket, err)
			break
		}
		if len(page) == 0 {
			break
		}
		for _, n := range page {
			if c.ForRepair {
				r.index.Add(n)
			} else {
				r.index.Graph.Add(n.Hash, n.References)
			}
			r.Narinfos++
			select {
			case work <- n:
			case <-ctx.Done():
				break scan
			}
		}
		after = page[len(page)-1].Hash
	}
	close(work)
	wg.Wait()
	if p := failed.Load(); p != nil {
		return *p
	}
	if scanErr == nil && ctx.Err() != nil {
		scanErr = ctx.Err()
	}
	return scanErr
}

// checkNarinfo checks one narinfo's signatures and NAR. Problems go to
// the report; an error is a failure to check (the context ended).
func (c *Checker) checkNarinfo(ctx context.Context, r *Report, n meta.Narinfo, keys []signature.PublicKey, buf []byte) error {
	if !r.NoKeys {
		c.checkSigs(r, n, keys)
	}
	_, rd, err := c.Objects.Get(ctx, r.Bucket, n.URL)
	switch {
	case errors.Is(err, meta.ErrNoSuchKey):
		if gone, err := c.gone(ctx, r.Bucket, n.Hash); err != nil {
			return err
		} else if gone { // deleted since the scan read it (gc, path delete)
			return nil
		}
		if pulled, err := c.pulled(ctx, r, n.Hash); err != nil {
			return err
		} else if pulled {
			r.addPending(fmt.Sprintf("%s: %s", n.StorePath, n.URL))
			return nil
		}
		r.add(MissingNAR, n.Hash, fmt.Sprintf("%s: %s", n.StorePath, n.URL))
		return nil
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		r.add(UnreadableNAR, n.Hash, fmt.Sprintf("%s: %s: %v", n.StorePath, n.URL, err))
		return nil
	}
	defer rd.Close()
	fileHash := sha256.New()
	counted := &counter{r: rd, n: &c.Progress.Bytes}
	raw := io.TeeReader(counted, fileHash)
	var narHash nixhash.SHA256
	var narSize int64
	decoded := false
	if c.Deep {
		comp := n.Compression
		if strings.TrimSpace(comp) == "" {
			comp = "bzip2" // a narinfo without Compression means bzip2
		}
		if codec.Supported(comp) {
			var derr error
			narHash, narSize, derr = decode(comp, raw, uint64(n.NarSize), buf)
			if derr != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				r.add(Undecodable, n.Hash, fmt.Sprintf("%s: %s as %s: %v", n.StorePath, n.URL, comp, derr))
			} else {
				decoded = true
			}
		} else {
			r.mu.Lock()
			r.Undecoded++
			r.mu.Unlock()
		}
	}
	// The rest of the file: all of it, or what a decoder left after its end.
	if _, err := io.CopyBuffer(io.Discard, raw, buf); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.add(UnreadableNAR, n.Hash, fmt.Sprintf("%s: %s: %v", n.StorePath, n.URL, err))
		return nil
	}
	size := counted.read
	r.mu.Lock()
	r.Bytes += size
	r.mu.Unlock()
	if size != n.FileSize {
		r.add(BadFileSize, n.Hash, fmt.Sprintf("%s: %s is %d bytes, the narinfo says %d", n.StorePath, n.URL, size, n.FileSize))
	}
	var got nixhash.SHA256
	copy(got[:], fileHash.Sum(nil))
	if n.FileHash != "" {
		want, err := nixhash.ParseSHA256(n.FileHash)
		if err != nil || want != got {
			r.add(BadFileHash, n.Hash, fmt.Sprintf("%s: %s hashes to %s, the narinfo says %s", n.StorePath, n.URL, got, n.FileHash))
		}
	}
	if decoded {
		if narSize != n.NarSize {
			r.add(BadNarSize, n.Hash, fmt.Sprintf("%s: %s decodes to %d bytes, the narinfo says %d", n.StorePath, n.URL, narSize, n.NarSize))
		} else if want, err := nixhash.ParseSHA256(n.NarHash); err != nil || want != narHash {
			r.add(BadNarHash, n.Hash, fmt.Sprintf("%s: %s decodes to %s, the narinfo says %s", n.StorePath, n.URL, narHash, n.NarHash))
		}
	}
	return nil
}

// decode hashes what r decodes to with comp, reading at most limit+1
// decoded bytes (a NAR longer than its NarSize is wrong anyway).
func decode(comp string, r io.Reader, limit uint64, buf []byte) (nixhash.SHA256, int64, error) {
	var h nixhash.SHA256
	dec, err := codec.NewReader(comp, r)
	if err != nil {
		return h, 0, err
	}
	defer dec.Close()
	s := sha256.New()
	n, err := io.CopyBuffer(s, io.LimitReader(dec, int64(min(limit, 1<<62))+1), buf)
	if err != nil {
		return h, 0, err
	}
	copy(h[:], s.Sum(nil))
	return h, n, nil
}

// counter counts the bytes read through it, into its own field and a
// shared progress counter.
type counter struct {
	r    io.Reader
	n    *atomic.Int64
	read int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += int64(n)
	c.n.Add(int64(n))
	return n, err
}

func (c *Checker) checkSigs(r *Report, n meta.Narinfo, keys []signature.PublicKey) {
	if len(n.Sigs) == 0 {
		r.add(Unsigned, n.Hash, n.StorePath)
		return
	}
	ni := narinfo.NarInfo{StorePath: n.StorePath, NarHash: n.NarHash, NarSize: uint64(n.NarSize), References: n.References, Sigs: n.Sigs}
	if ni.Verify(keys...) {
		return
	}
	var names []string
	for _, s := range n.Sigs {
		name, _, _ := strings.Cut(s, ":")
		for _, k := range keys {
			if k.Name() == name {
				r.add(BadSignature, "", fmt.Sprintf("%s: the signature by %s does not verify", n.StorePath, name))
				return
			}
		}
		names = append(names, name)
	}
	r.add(UnknownKey, "", fmt.Sprintf("%s: signed by %s only", n.StorePath, strings.Join(names, ", ")))
}
