// Package blobcache keeps the hot blobs of a remote blob store (an S3
// store: internal/storage/s3store) on the server's local disk, so that a
// repeated GET of a NAR costs the store nothing and the server one
// sendfile(2), as a blob of the local store does. Without it every GET
// crosses the network twice (store → server → client); on a small machine
// the kernel's work for the second hop alone held a NAR GET through a
// node to 0.61× of a GET straight from the store (bench/scale.sh).
//
// Cache is a storage.Backend that wraps the store. Open of a blob kept
// here returns the local file (a Blob with File, which the object layer
// hands to the HTTP server for sendfile). Open of any other blob returns
// the store's own Blob, untouched (so it still streams, spliced, as
// before), and schedules a fill: a separate read of the whole blob from
// the store into a temp file, fsynced, its length checked against the
// size the store reported, then renamed in (internal/diskcache: a
// directory bounded by a total size, least recently used out first,
// crash-safe temps, the order of use rebuilt from atimes at start).
// Everything else (Create, CreateSized, CreateAt, Walk, Delete) goes to
// the store; Delete also removes the local copy.
//
// Consistency across nodes needs nothing more than that. Blobs are
// immutable under random 128-bit IDs (internal/storage), and every read
// of an object goes through the metadata first, which names the blob of
// the object's present version. An object deleted or replaced through
// any node stops naming its old blob at once (the metadata store is
// shared and strongly consistent), so no read ever asks this cache for
// it again, and a local copy left of it is just dead weight that the LRU
// bound evicts. Bytes served from here are the bytes the metadata names,
// or nothing. (The one exception, a blob replaced under its own ID by
// storage.Placer's CreateAt, which `nixbucket migrate` uses to copy the
// same bytes again, also drops the local copy.)
//
// A fill costs a second GET of the blob while the client's is streaming,
// so it is bounded: one per blob at a time, Options.Fills at once (a miss
// while all are busy is served but not filled: a blob asked for again
// gets its fill then), and none for blobs under Options.MinSize, where a
// local copy gains little (see DefaultMinSize). A cached file whose
// length is not the size it was committed with is dropped and the store
// used (diskcache.Lookup): a truncated blob is never served. Every Open
// counts as a use, whoever reads (a GET, a CopyObject's source): the
// object layer does not say why it reads, and the reads that are not
// GETs are few.
package blobcache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/nixbucket/nixbucket/internal/diskcache"
	"github.com/nixbucket/nixbucket/internal/storage"
)

const (
	// DefaultMinSize is the smallest blob kept. A fill costs a second
	// request to the store, a file created, fsynced and renamed in, and
	// the directory fsynced: milliseconds, about what fetching 256 KiB
	// from a store on the same network costs, which a hit then saves
	// only for blobs at least that large. Binary caches' bytes are in
	// NARs of megabytes; the many small ones (and narinfos, which are
	// kept in the metadata) would churn the LRU for little.
	DefaultMinSize = 256 << 10
	// DefaultFills is how many fills run at once: enough that two hot
	// NARs fill together, few enough that fills never take much of the
	// store's bandwidth from the clients' own GETs.
	DefaultFills = 2
)

// Store is the blob store a Cache wraps, with the abilities the server's
// callers use through the Cache (s3store.Backend has them all): sized
// streaming creates, creates at a given ID, opening a blob to be read
// from its start with one request, and Close.
type Store interface {
	storage.Placer
	storage.SizedCreator
	OpenStream(ctx context.Context, id string) (storage.Blob, error)
	Close() error
}

// Options configure a Cache.
type Options struct {
	// Dir is the cache's directory; Size its bound in bytes (> 0).
	Dir  string
	Size int64
	// MinSize is the smallest blob kept (0: DefaultMinSize; less: any).
	MinSize int64
	// Fills is how many fills run at once (0: DefaultFills).
	Fills int
	// KeepFree is the free space a fill must leave on the directory's
	// file system (the server's --min-free), so that copies never take
	// the room its writes need; a fill that would not is not started.
	KeepFree int64
	Log      *slog.Logger
}

// Cache is a storage.Backend over a Store that keeps hot blobs on the
// local disk. Close it (it stops the fills) before the Store.
type Cache struct {
	store   Store
	disk    *diskcache.Cache
	minSize int64
	free    int64 // Options.KeepFree
	log     *slog.Logger
	slots   chan struct{} // one per fill running

	ctx    context.Context // the fills'; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	filling map[string]*fill // by blob ID
	closed  bool
	fills   FillStats
}

// fill is one blob being copied in.
type fill struct {
	cancel  context.CancelFunc
	done    chan struct{} // closed when the fill has ended
	dropped bool          // deleted or replaced meanwhile: must not be committed
}

// FillStats count the fills by outcome.
type FillStats struct {
	Done    uint64 // committed
	Failed  uint64 // the store's read or the local write failed
	Busy    uint64 // not started: Fills were running
	NoRoom  uint64 // not started: the bound held only files in use, or the disk is short of KeepFree
	Dropped uint64 // the blob was deleted or replaced while it was filled
}

var (
	_ storage.Placer       = (*Cache)(nil)
	_ storage.SizedCreator = (*Cache)(nil)
)

// Open opens (creating it) the cache directory o.Dir over store. What
// is in the directory from an earlier run is kept (the blobs are
// immutable, so it is as good as it was), down to the bound.
func Open(store Store, o Options) (*Cache, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.MinSize == 0 {
		o.MinSize = DefaultMinSize
	}
	if o.Fills <= 0 {
		o.Fills = DefaultFills
	}
	disk, err := diskcache.OpenWith(o.Dir, o.Size, o.Log, diskcache.Options{Entries: "blobs", What: "blob cache"})
	if err != nil {
		return nil, fmt.Errorf("blob cache: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Cache{store: store, disk: disk, minSize: o.MinSize, free: o.KeepFree, log: o.Log, slots: make(chan struct{}, o.Fills),
		ctx: ctx, cancel: cancel, filling: map[string]*fill{}}, nil
}

// Disk is the cache's directory, for metrics.
func (c *Cache) Disk() *diskcache.Cache { return c.disk }

// FillStats returns the fills' counters.
func (c *Cache) FillStats() FillStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fills
}

// Close stops the fills in flight, waits for them to end, and closes the
// store.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	return c.store.Close()
}

// Open returns the local copy of the blob, or else the store's Blob (and
// starts a fill).
func (c *Cache) Open(ctx context.Context, id string) (storage.Blob, error) {
	return c.open(ctx, id, c.store.Open)
}

// OpenStream is Open for a blob about to be read from its start: a miss
// opens it with the store's OpenStream (one GET instead of a HEAD and a
// GET).
func (c *Cache) OpenStream(ctx context.Context, id string) (storage.Blob, error) {
	return c.open(ctx, id, c.store.OpenStream)
}

func (c *Cache) open(ctx context.Context, id string, open func(context.Context, string) (storage.Blob, error)) (storage.Blob, error) {
	f, ok, err := c.disk.Lookup(id)
	if err != nil {
		c.log.Warn("blob cache: reading a kept blob failed; using the store", "blob", id, "err", err)
	}
	if ok {
		c.disk.Count(true)
		return &fileBlob{f: f, size: f.Size()}, nil
	}
	b, err := open(ctx, id)
	if err != nil {
		return nil, err
	}
	if size := b.Size(); size >= c.minSize && size > 0 {
		c.disk.Count(false)
		c.startFill(id, size)
	}
	return b, nil
}

// startFill starts a fill of blob id of size bytes unless one runs for
// it already, or every slot is busy.
func (c *Cache) startFill(id string, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.filling[id] != nil {
		return
	}
	select {
	case c.slots <- struct{}{}:
	default:
		c.fills.Busy++
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	fl := &fill{cancel: cancel, done: make(chan struct{})}
	c.filling[id] = fl
	c.wg.Go(func() {
		defer func() {
			cancel()
			c.mu.Lock()
			delete(c.filling, id)
			c.mu.Unlock()
			close(fl.done)
			<-c.slots
		}()
		c.runFill(ctx, fl, id, size)
	})
}

// runFill copies blob id into the cache and counts how it went.
func (c *Cache) runFill(ctx context.Context, fl *fill, id string, size int64) {
	start := time.Now()
	if f, ok, _ := c.disk.Lookup(id); ok {
		f.Close() // filled meanwhile by a fill that ended after this one's Open missed
		return
	}
	if !c.fits(size) {
		c.count(func(s *FillStats) { s.NoRoom++ })
		return
	}
	res, err := c.disk.Reserve(id, size)
	if errors.Is(err, diskcache.ErrNoRoom) {
		c.count(func(s *FillStats) { s.NoRoom++ })
		return
	}
	if err != nil {
		c.failed(id, err)
		return
	}
	tmp, err := c.copyIn(ctx, id, size)
	if err != nil {
		res.Cancel()
		if ctx.Err() != nil && c.wasDropped(fl) {
			c.count(func(s *FillStats) { s.Dropped++ })
			return
		}
		c.failed(id, err)
		return
	}
	// Under mu, so that a Delete either comes first (and this fill is
	// dropped) or after the commit (and removes the entry).
	c.mu.Lock()
	if fl.dropped {
		c.fills.Dropped++
		c.mu.Unlock()
		res.Cancel()
		os.Remove(tmp)
		return
	}
	held, err := res.Commit(tmp)
	if err == nil {
		c.fills.Done++
	}
	c.mu.Unlock()
	if err != nil {
		os.Remove(tmp)
		c.failed(id, err)
		return
	}
	held.Close()
	c.log.Debug("blob cache: filled", "blob", id, "bytes", size, "took", time.Since(start).Round(time.Millisecond))
}

// fits reports whether size more bytes leave KeepFree free on the
// cache's file system (yes when that cannot be told).
func (c *Cache) fits(size int64) bool {
	if c.free <= 0 {
		return true
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(c.disk.TempDir(), &st); err != nil {
		return true
	}
	return int64(st.Bavail)*st.Bsize-size >= c.free
}

// copyIn reads blob id from the store into a temp file of the cache,
// checks that it holds size bytes, fsyncs it, and returns its path.
func (c *Cache) copyIn(ctx context.Context, id string, size int64) (path string, err error) {
	b, err := c.store.OpenStream(ctx, id)
	if err != nil {
		return "", err
	}
	defer b.Close()
	if b.Size() != size {
		return "", fmt.Errorf("the store now reports %d bytes, %d before", b.Size(), size)
	}
	tmp, err := os.CreateTemp(c.disk.TempDir(), "fill-*")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// Not io.Copy: the store's Blob is an io.ReaderAt too, and a plain
	// reader keeps to its one streaming GET.
	n, err := io.CopyBuffer(tmp, struct{ io.Reader }{b}, make([]byte, 256<<10))
	if err != nil {
		return "", err
	}
	if n != size {
		return "", fmt.Errorf("read %d bytes of the %d the store reported", n, size)
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return tmp.Name(), nil
}

func (c *Cache) count(f func(*FillStats)) {
	c.mu.Lock()
	f(&c.fills)
	c.mu.Unlock()
}

func (c *Cache) wasDropped(fl *fill) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fl.dropped
}

func (c *Cache) failed(id string, err error) {
	c.count(func(s *FillStats) { s.Failed++ })
	if c.ctx.Err() == nil {
		c.log.Warn("blob cache: fill failed; the blob is served from the store", "blob", id, "err", err)
	}
}

// drop forgets blob id here: its local copy, and any fill in flight,
// which will not commit.
func (c *Cache) drop(id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fl := c.filling[id]; fl != nil {
		fl.dropped = true
		fl.cancel()
	}
	return c.disk.Remove(id)
}

// Forget drops the local copy of blob id, for a reader that found it
// holds another number of bytes than the metadata records (changed on
// disk while the server was stopped, when its length is the only record
// of it); the next Open reads the store.
func (c *Cache) Forget(id string) {
	if err := c.drop(id); err != nil {
		c.log.Warn("blob cache: removing a copy of the wrong size", "blob", id, "err", err)
	}
}

// Delete removes the local copy (readers that hold it read on), then the
// blob in the store, then the copy again: an Open that found the blob in
// the store just before may have started a fill that read it before the
// store's delete took effect.
func (c *Cache) Delete(ctx context.Context, id string) error {
	if err := c.drop(id); err != nil {
		c.log.Warn("blob cache: removing a deleted blob's copy", "blob", id, "err", err)
	}
	err := c.store.Delete(ctx, id)
	if derr := c.drop(id); derr != nil {
		c.log.Warn("blob cache: removing a deleted blob's copy", "blob", id, "err", derr)
	}
	return err
}

// Create passes through to the store: a new blob has a new ID, which
// nothing here can hold.
func (c *Cache) Create(ctx context.Context) (storage.Writer, error) { return c.store.Create(ctx) }

// CreateSized passes through to the store (storage.SizedCreator), its
// writer's MD5Committer and StoreVerifier with it.
func (c *Cache) CreateSized(ctx context.Context, size int64) (storage.Writer, error) {
	return c.store.CreateSized(ctx, size)
}

// CreateAt passes through to the store (storage.Placer); the blob it
// replaces on commit loses its local copy then.
func (c *Cache) CreateAt(ctx context.Context, id string) (storage.Writer, error) {
	w, err := c.store.CreateAt(ctx, id)
	if err != nil {
		return nil, err
	}
	return &placeWriter{Writer: w, c: c, id: id}, nil
}

// Walk passes through to the store.
func (c *Cache) Walk(ctx context.Context, fn func(id string, committed time.Time) error) error {
	return c.store.Walk(ctx, fn)
}

// placeWriter drops the local copy of the blob it replaces, once it is
// replaced.
type placeWriter struct {
	storage.Writer
	c  *Cache
	id string
}

func (w *placeWriter) Commit(ctx context.Context) (string, error) {
	id, err := w.Writer.Commit(ctx)
	if err == nil {
		if derr := w.c.drop(w.id); derr != nil {
			w.c.log.Warn("blob cache: removing a replaced blob's copy", "blob", w.id, "err", derr)
		}
	}
	return id, err
}

// fileBlob is a blob kept here: a local file held against eviction.
type fileBlob struct {
	f    *diskcache.File
	size int64
}

func (b *fileBlob) Read(p []byte) (int, error)                   { return b.f.Read(p) }
func (b *fileBlob) ReadAt(p []byte, off int64) (int, error)      { return b.f.ReadAt(p, off) }
func (b *fileBlob) Seek(offset int64, whence int) (int64, error) { return b.f.Seek(offset, whence) }
func (b *fileBlob) Close() error                                 { return b.f.Close() }
func (b *fileBlob) Size() int64                                  { return b.size }

// File returns the open file, so that the object layer hands it to the
// HTTP server as an *os.File, which it sends with sendfile(2) (see
// localfs's blob.File). The file belongs to the blob: Close the blob.
func (b *fileBlob) File() *os.File { return b.f.File }
