package push

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"sync/atomic"

	"github.com/nixbucket/nixbucket/internal/client/compress"
	"github.com/nixbucket/nixbucket/internal/client/localstore"
	"github.com/nixbucket/nixbucket/internal/client/spool"
	"github.com/nixbucket/nixbucket/internal/client/storeurl"
	"github.com/nixbucket/nixbucket/internal/client/target"
	"github.com/nixbucket/nixbucket/internal/nix/nar"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

// Content types of what push uploads, as Nix sends them.
const (
	typeNAR       = "application/x-nix-nar"
	typeNarinfo   = "text/x-nix-narinfo"
	typeListing   = "application/json"
	typeCacheInfo = "text/x-nix-cache-info"
)

// parallelMin is the NAR size from which zstd and xz compress on all cores
// (unless parallel-compression=false): below it a path's compression is
// short, and --jobs already keeps the cores busy.
const parallelMin = 32 << 20

// CorruptError reports a store path whose contents on disk no longer match
// the NarHash the Nix database recorded for it.
type CorruptError struct {
	Path              string
	WantHash, GotHash string
	WantSize, GotSize int64
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("store corruption: %s serialises to %s (%d bytes), but the Nix database records %s (%d bytes); not uploaded (nix-store --verify --check-contents --repair fixes the store)",
		e.Path, e.GotHash, e.GotSize, e.WantHash, e.WantSize)
}

// narFile is an uploaded NAR file.
type narFile struct {
	key    string // nar/<filehash>.nar<ext>
	hash   nixhash.SHA256
	size   int64
	reused bool // it was already in the cache
}

// narWriter hashes and counts the NAR on its way to the compressor, and
// reports progress.
type narWriter struct {
	w        io.Writer
	h        hash.Hash
	n        int64
	progress *atomic.Int64
}

func (nw *narWriter) Write(p []byte) (int, error) {
	nw.h.Write(p)
	n, err := nw.w.Write(p)
	nw.n += int64(n)
	nw.progress.Add(int64(n))
	return n, err
}

// uploadNAR dumps, hashes, checks, compresses and uploads one path's NAR
// (and its listing), unless the cache already has the same file. The
// dump and compression hold a compressor slot, the upload does not.
func (p *Pusher) uploadNAR(ctx context.Context, info *localstore.PathInfo) (*narFile, error) {
	select {
	case p.compressors <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	f, listing, err := p.compressNAR(ctx, info)
	<-p.compressors
	if err != nil {
		return nil, err
	}
	defer f.Close()

	nf := &narFile{hash: f.SHA256(), size: f.Size()}
	nf.key = "nar/" + nf.hash.Nix32() + ".nar" + compress.Ext(p.o.URL.Compression)
	// As Nix does: a file already there (an earlier run stopped before
	// the narinfo, or another path with the same contents) is not sent
	// again.
	if size, err := p.o.Target.Stat(ctx, nf.key); err == nil && size == f.Size() {
		nf.reused = true
	} else if err != nil && !errors.Is(err, target.ErrNotFound) {
		return nil, fmt.Errorf("asking %s for %s: %w", p.o.Target, nf.key, err)
	} else if err := p.o.Target.Put(ctx, nf.key, f, target.Meta{ContentType: typeNAR, Progress: p.progressFunc()}); err != nil {
		return nil, fmt.Errorf("uploading %s of %s: %w", nf.key, info.Path, err)
	}

	if listing != nil {
		if err := p.putSmall(ctx, path.Base(info.Path)[:32]+".ls", listing.JSON(), typeListing, p.o.URL.LsCompression); err != nil {
			return nil, fmt.Errorf("uploading the listing of %s: %w", info.Path, err)
		}
	}
	return nf, nil
}

// compressNAR dumps, hashes, checks and compresses one path's NAR into a
// spool file, and lists it if the cache wants listings.
func (p *Pusher) compressNAR(ctx context.Context, info *localstore.PathInfo) (*spool.File, *nar.Listing, error) {
	u := p.o.URL
	var partSize int64
	if ps, ok := p.o.Target.(target.PartSizer); ok {
		partSize = ps.PartSize(maxCompressed(info.NarSize))
	}
	sw := p.spoolWriter(maxCompressed(info.NarSize), partSize)
	defer sw.Abort()
	parallel := u.ParallelCompression != storeurl.False && info.NarSize >= parallelMin
	cw, err := compress.NewWriter(ctx, sw, compress.Options{Method: u.Compression, Level: u.CompressionLevel, Parallel: parallel})
	if err != nil {
		return nil, nil, err
	}
	nw := &narWriter{w: cw, h: sha256.New(), progress: &p.narBytes}
	var listing chan listResult
	if u.WriteNARListing {
		pr, pw := io.Pipe()
		listing = make(chan listResult, 1)
		go func() {
			l, err := nar.List(pr)
			pr.CloseWithError(err) // unblock the dump if List failed
			listing <- listResult{l, err}
		}()
		err = nar.DumpPath(io.MultiWriter(nw, pw), info.Path)
		pw.CloseWithError(err)
	} else {
		err = nar.DumpPath(nw, info.Path)
	}
	p.narBytes.Add(info.NarSize - nw.n) // count what was planned, whatever happened
	if cerr := cw.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("compressing the NAR of %s: %w", info.Path, cerr)
	}
	var lr listResult
	if listing != nil {
		lr = <-listing // the pipe is closed: List has returned or will
	}
	if err != nil {
		return nil, nil, fmt.Errorf("dumping %s: %w", info.Path, err)
	}
	var narHash nixhash.SHA256
	nw.h.Sum(narHash[:0])
	if narHash.String() != info.NarHash || nw.n != info.NarSize {
		return nil, nil, &CorruptError{Path: info.Path, WantHash: info.NarHash, GotHash: narHash.String(), WantSize: info.NarSize, GotSize: nw.n}
	}
	if lr.err != nil {
		return nil, nil, fmt.Errorf("listing the NAR of %s: %w", info.Path, lr.err)
	}
	f, err := sw.Finish()
	if err != nil {
		return nil, nil, fmt.Errorf("spooling the NAR of %s: %w", info.Path, err)
	}
	return f, lr.l, nil
}

type listResult struct {
	l   *nar.Listing
	err error
}

// spoolWriter returns where a NAR of at most maxSize bytes once compressed
// waits for its upload: memory from the budget if it may (while the budget
// lasts), else a temporary file.
func (p *Pusher) spoolWriter(maxSize, partSize int64) *spool.Writer {
	if maxSize <= int64(p.o.MemLimit) {
		return p.mem.NewWriter(p.o.TmpDir, int(maxSize), partSize)
	}
	return spool.NewWriter(p.o.TmpDir, 0, partSize)
}

// maxCompressed bounds the compressed size of a NAR: incompressible data
// grows a little in every method's framing.
func maxCompressed(narSize int64) int64 {
	return narSize + narSize/64 + 64<<10
}

func (p *Pusher) progressFunc() func(int64) {
	return func(n int64) { p.uploaded.Add(n) }
}

// putSmall uploads a small document, encoded with encoding ("" for none).
func (p *Pusher) putSmall(ctx context.Context, key string, body []byte, contentType, encoding string) error {
	data, err := compress.Encode(ctx, encoding, body)
	if err != nil {
		return err
	}
	return p.o.Target.Put(ctx, key, spool.FromBytes(data), target.Meta{ContentType: contentType, ContentEncoding: encoding})
}

// narGone reports whether the cache no longer has the NAR file it had
// when uploadNAR reused it.
func (p *Pusher) narGone(ctx context.Context, nf *narFile) bool {
	_, err := p.o.Target.Stat(ctx, nf.key)
	return errors.Is(err, target.ErrNotFound)
}

// putNarinfo writes the path's narinfo, signed with the configured keys.
func (p *Pusher) putNarinfo(ctx context.Context, info *localstore.PathInfo, nf *narFile) error {
	ni := makeNarinfo(info, nf, p.o.URL.Compression, p.o.Keys)
	if err := ni.Validate(); err != nil {
		return fmt.Errorf("narinfo of %s: %w", info.Path, err)
	}
	if err := p.putSmall(ctx, narinfoKey(info.Path), []byte(ni.String()), typeNarinfo, p.o.URL.NarinfoCompression); err != nil {
		return fmt.Errorf("uploading the narinfo of %s: %w", info.Path, err)
	}
	return nil
}

// makeNarinfo returns the narinfo of a pushed path: what the Nix database
// knows about it, where its file is, and its signatures, the store's own
// (those that parse) and one per key.
func makeNarinfo(info *localstore.PathInfo, nf *narFile, compression string, keys []signature.SecretKey) *narinfo.NarInfo {
	ni := &narinfo.NarInfo{
		StorePath:   info.Path,
		URL:         nf.key,
		Compression: compression,
		FileHash:    nf.hash.String(),
		FileSize:    uint64(nf.size),
		NarHash:     info.NarHash,
		NarSize:     uint64(info.NarSize),
		CA:          info.CA,
	}
	for _, r := range info.References {
		ni.References = append(ni.References, path.Base(r))
	}
	if info.Deriver != "" {
		ni.Deriver = path.Base(info.Deriver)
	}
	for _, s := range info.Sigs {
		if _, err := signature.ParseSignature(s); err == nil {
			ni.Sigs = append(ni.Sigs, s)
		}
	}
	for _, k := range keys {
		ni.Sign(k)
	}
	return ni
}
