// Package gcsynth builds synthetic Nix caches straight into a metadata
// store (not through HTTP), for the collector's benchmark (bench/gc.sh)
// and its crash test: narinfo objects with their index records, and one
// NAR object each.
//
// The shape is a realistic DAG: Shared paths (a toolchain) that every
// closure uses, and Roots closures of Unique paths each, in layers of
// about Width paths. A path references one path of the layer below (so
// that everything is reachable from its root), then others of the lower
// layers and the shared paths, Refs in all. The first Stale roots and
// their closures were pushed and last used long ago; the others recently.
package gcsynth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
	"github.com/nixbucket/nixbucket/internal/storage"
)

// signer signs the narinfos of a Shape with Sign.
type signer struct {
	key  signature.SecretKey
	hash string // of the NAR, which every path shares
}

// newSigner gives the bucket a signing key, stored as nixbucket stores
// one, and hashes the NAR.
func newSigner(ctx context.Context, store meta.Store, s Shape, nar []byte) (*signer, error) {
	k, err := signature.Generate(s.Bucket + "-1")
	if err != nil {
		return nil, err
	}
	if err := store.AddSigningKey(ctx, meta.SigningKey{Bucket: s.Bucket, Name: k.Name(), Secret: k.String(), Created: s.Now}); err != nil {
		return nil, fmt.Errorf("signing key for %s: %w", s.Bucket, err)
	}
	return &signer{key: k, hash: nixhash.SHA256(sha256.Sum256(nar)).String()}, nil
}

// sign completes rec with the hashes and a signature, and returns the
// narinfo's text.
func (g *signer) sign(rec *meta.Narinfo) []byte {
	rec.FileHash, rec.NarHash = g.hash, g.hash
	ni := narinfo.NarInfo{StorePath: rec.StorePath, URL: rec.URL, Compression: rec.Compression,
		FileHash: rec.FileHash, FileSize: uint64(rec.FileSize), NarHash: rec.NarHash, NarSize: uint64(rec.NarSize),
		References: rec.References}
	ni.Sign(g.key)
	rec.Sigs = ni.Sigs
	return []byte(ni.String())
}

// Shape says what to build.
type Shape struct {
	Bucket string
	Roots  int // closures
	Unique int // paths of each closure of its own, its root among them
	Shared int // paths every closure uses
	Width  int // paths per layer
	Refs   int // references per path
	Stale  int // of the roots, how many are old
	// NARBytes is each NAR object's size; the NARs are stored inline
	// (at most objects.InlineMax), so building writes no blob files.
	NARBytes int
	Now      time.Time
	// StaleAge and FreshAge are how long ago the stale and the other
	// closures were pushed and last used.
	StaleAge, FreshAge time.Duration
	Writers            int // concurrent writers (default 64)
	// Blobs, when set, holds each NAR as a blob of its own, as an upload
	// past objects.InlineMax is, instead of inline.
	Blobs storage.Backend
	// Sign, when set, gives the bucket a signing key and every narinfo
	// what a real one has: FileHash and NarHash of its NAR, and a
	// signature by that key, so that `nixbucket verify` checks them all.
	Sign bool
}

// Paths is how many paths the shape has.
func (s Shape) Paths() int { return s.Shared + s.Roots*s.Unique }

// Hash is the store path hash of path i: 32 characters of Nix's
// alphabet.
func Hash(i int) string {
	const alphabet = "0123456789abcdfghijklmnpqrsvwxyz"
	b := []byte("syn0000000000000000000000000000x")
	x := uint64(i)*0x9e3779b97f4a7c15 + 1
	for k := 3; k < 16; k++ {
		b[k] = alphabet[x%32]
		x /= 32
	}
	y := uint64(i)
	for k := len(b) - 2; k >= 16; k-- {
		b[k] = alphabet[y%32]
		y /= 32
	}
	return string(b)
}

// Root returns the path number of closure r's root.
func (s Shape) Root(r int) int { return s.Shared + r*s.Unique + s.Unique - 1 }

// refs returns the references of path i.
func (s Shape) refs(i int, rng *rand.Rand) []int {
	var out []int
	add := func(j int) {
		for _, k := range out {
			if k == j {
				return
			}
		}
		out = append(out, j)
	}
	if i < s.Shared { // the shared paths: a DAG of their own
		layer := i / s.Width
		if layer == 0 {
			return nil
		}
		add(i - s.Width)
		for len(out) < s.Refs {
			add(rng.IntN(layer * s.Width))
		}
		return out
	}
	first := s.Shared + (i-s.Shared)/s.Unique*s.Unique // the closure's first path
	local := i - first
	if i == first+s.Unique-1 { // the root: the whole top layer
		for j := max(first, i-s.Width); j < i; j++ {
			add(j)
		}
		return out
	}
	layer := local / s.Width
	if layer == 0 {
		for len(out) < min(s.Refs, s.Shared) {
			add(rng.IntN(max(s.Shared, 1)))
		}
		return out
	}
	add(i - s.Width)
	for len(out) < s.Refs-2 {
		add(first + rng.IntN(layer*s.Width))
	}
	for len(out) < s.Refs && s.Shared > 0 {
		add(rng.IntN(s.Shared))
	}
	return out
}

func (s Shape) stale(i int) bool {
	if i < s.Shared {
		return false
	}
	return (i-s.Shared)/s.Unique < s.Stale
}

// Build writes the shape into store, calling progress now and then.
func Build(ctx context.Context, store meta.Store, s Shape, progress func(done int)) error {
	if err := store.CreateBucket(ctx, meta.Bucket{Name: s.Bucket, Created: s.Now}); err != nil {
		return fmt.Errorf("create bucket %s: %w", s.Bucket, err)
	}
	writers := s.Writers
	if writers <= 0 {
		writers = 64
	}
	nar := make([]byte, s.NARBytes)
	var sig *signer
	if s.Sign {
		var err error
		if sig, err = newSigner(ctx, store, s, nar); err != nil {
			return err
		}
	}
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				i := int(next.Add(1) - 1)
				if i >= s.Paths() || ctx.Err() != nil {
					return
				}
				if err := s.put(ctx, store, i, rng, nar, sig); err != nil {
					errs <- err
					return
				}
				if n := done.Add(1); progress != nil && n%10000 == 0 {
					progress(int(n))
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (s Shape) put(ctx context.Context, store meta.Store, i int, rng *rand.Rand, nar []byte, sig *signer) error {
	at := s.Now.Add(-s.FreshAge)
	if s.stale(i) {
		at = s.Now.Add(-s.StaleAge)
	}
	if i < s.Shared {
		at = s.Now.Add(-s.StaleAge) // old, kept by the fresh closures that use it
	}
	h := Hash(i)
	url := fmt.Sprintf("nar/%s.nar", h)
	seg := meta.Segment{Size: int64(len(nar)), Data: nar}
	if s.Blobs != nil {
		var err error
		if seg, err = blob(ctx, s.Blobs, nar); err != nil {
			return fmt.Errorf("put %s: %w", url, err)
		}
	}
	narObj := meta.Object{Bucket: s.Bucket, Key: url, Size: int64(len(nar)), Modified: at, ETag: "0",
		Segments: []meta.Segment{seg}}
	if _, err := store.PutObject(ctx, narObj, nil); err != nil {
		return fmt.Errorf("put %s: %w", url, err)
	}
	rec := &meta.Narinfo{Bucket: s.Bucket, Hash: h, StorePath: fmt.Sprintf("/nix/store/%s-p%d", h, i), URL: url,
		Compression: "none", FileSize: int64(len(nar)), NarSize: int64(len(nar)), NarHash: "sha256:0",
		Created: at, LastAccess: at}
	for _, r := range s.refs(i, rng) {
		rec.References = append(rec.References, fmt.Sprintf("%s-p%d", Hash(r), r))
	}
	body := []byte(fmt.Sprintf("StorePath: %s\nURL: %s\n", rec.StorePath, url))
	if sig != nil {
		body = sig.sign(rec)
	}
	obj := meta.Object{Bucket: s.Bucket, Key: h + ".narinfo", Size: int64(len(body)), Modified: at, ETag: "0",
		Segments: []meta.Segment{{Size: int64(len(body)), Data: body}}, Narinfo: rec}
	if _, err := store.PutObject(ctx, obj, nil); err != nil {
		return fmt.Errorf("put %s.narinfo: %w", h, err)
	}
	return nil
}

// blob stores body as a committed blob.
func blob(ctx context.Context, b storage.Backend, body []byte) (meta.Segment, error) {
	w, err := b.Create(ctx)
	if err != nil {
		return meta.Segment{}, err
	}
	if _, err := w.Write(body); err != nil {
		w.Abort()
		return meta.Segment{}, err
	}
	id, err := w.Commit(ctx)
	if err != nil {
		return meta.Segment{}, err
	}
	return meta.Segment{Blob: id, Size: int64(len(body))}, nil
}
