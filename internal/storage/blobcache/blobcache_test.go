package blobcache

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nixbucket/nixbucket/internal/storage"
	"github.com/nixbucket/nixbucket/internal/storage/s3store"
	"github.com/nixbucket/nixbucket/internal/storage/storagetest"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.RunS3(m)) }

var quiet = slog.New(slog.DiscardHandler)

// testPartSize is S3's smallest part.
const testPartSize = 5 << 20

// openStore opens an s3store on a fresh bucket of the test S3 store
// (versitygw).
func openStore(t *testing.T) *s3store.Backend {
	t.Helper()
	st := testenv.S3Store(t)
	b, err := s3store.Open(t.Context(), s3store.Config{
		Bucket: st.NewBucket(t), Endpoint: st.Endpoint, Region: st.Region, PathStyle: true, PartSize: testPartSize,
	}, s3store.Options{Credentials: credentials.NewStaticCredentialsProvider(st.AccessKey, st.SecretKey, "")})
	if err != nil {
		t.Fatalf("s3store.Open: %v", err)
	}
	return b
}

func openCache(t *testing.T, store Store, o Options) *Cache {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Size == 0 {
		o.Size = 64 << 20
	}
	o.Log = quiet
	c, err := Open(store, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// put stores a blob of random bytes in the store and returns its ID and
// bytes.
func put(t *testing.T, be storage.Backend, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	return storagetest.Put(t, be, data), data
}

// waitFill waits for the fill of blob id, if one runs, to end.
func waitFill(c *Cache, id string) {
	c.mu.Lock()
	fl := c.filling[id]
	c.mu.Unlock()
	if fl != nil {
		<-fl.done
	}
}

// read opens blob id through c, reads it whole, and reports whether it
// came from the local disk.
func read(t *testing.T, c *Cache, id string) ([]byte, bool) {
	t.Helper()
	b, err := c.Open(t.Context(), id)
	if err != nil {
		t.Fatalf("Open %s: %v", id, err)
	}
	defer b.Close()
	_, local := b.(interface{ File() *os.File })
	got, err := io.ReadAll(b)
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	if int64(len(got)) != b.Size() {
		t.Fatalf("read %d bytes of %s, Size %d", len(got), id, b.Size())
	}
	return got, local
}

func TestFillThenHit(t *testing.T) {
	store := openStore(t)
	c := openCache(t, store, Options{})
	id, data := put(t, c, 1<<20)

	got, local := read(t, c, id)
	if local || !bytes.Equal(got, data) {
		t.Fatalf("first read: local %v, bytes equal %v; want the store's bytes", local, bytes.Equal(got, data))
	}
	waitFill(c, id)
	if st := c.FillStats(); st.Done != 1 {
		t.Fatalf("fills %+v, want one done", st)
	}
	got, local = read(t, c, id)
	if !local || !bytes.Equal(got, data) {
		t.Fatalf("second read: local %v, bytes equal %v; want the local copy", local, bytes.Equal(got, data))
	}
	// A ranged read of the local copy, as a Range GET makes it.
	b, err := c.OpenStream(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 1000)
	if _, err := b.ReadAt(part, 300_000); err != nil || !bytes.Equal(part, data[300_000:301_000]) {
		t.Fatalf("ReadAt of the local copy: %v, equal %v", err, bytes.Equal(part, data[300_000:301_000]))
	}
	b.Close()
	if st := c.disk.Stats(); st.Hits != 2 || st.Misses != 1 || st.Entries != 1 || st.Bytes != 1<<20 {
		t.Fatalf("cache stats %+v, want 2 hits, 1 miss, one entry of 1 MiB", st)
	}
	// The same through the metrics.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c.Collectors()...)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP nixbucket_blob_cache_hits_total Blob lookups the disk cache answered.
# TYPE nixbucket_blob_cache_hits_total counter
nixbucket_blob_cache_hits_total 2
# HELP nixbucket_blob_cache_misses_total Blob lookups the disk cache did not hold.
# TYPE nixbucket_blob_cache_misses_total counter
nixbucket_blob_cache_misses_total 1
`), "nixbucket_blob_cache_hits_total", "nixbucket_blob_cache_misses_total"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 14 {
		t.Fatalf("%d metrics (%v), want 9 of the directory and 5 fill results", n, err)
	}
}

func TestSmallBlobsAreNotKept(t *testing.T) {
	c := openCache(t, openStore(t), Options{})
	id, data := put(t, c, DefaultMinSize-1)
	for range 2 {
		got, local := read(t, c, id)
		waitFill(c, id)
		if local || !bytes.Equal(got, data) {
			t.Fatalf("local %v, equal %v: want the store's bytes each time", local, bytes.Equal(got, data))
		}
	}
	if st := c.disk.Stats(); st.Misses != 0 || st.Entries != 0 {
		t.Fatalf("stats %+v: a small blob counts no miss and is not kept", st)
	}
}

func TestKeepFree(t *testing.T) {
	c := openCache(t, openStore(t), Options{KeepFree: 1 << 62})
	id, data := put(t, c, 1<<20)
	read(t, c, id)
	waitFill(c, id)
	if st := c.FillStats(); st.NoRoom != 1 || st.Done != 0 {
		t.Fatalf("fills %+v: want the one refused for the disk's free space", st)
	}
	if got, local := read(t, c, id); local || !bytes.Equal(got, data) {
		t.Fatalf("local %v, equal %v: want the store's bytes", local, bytes.Equal(got, data))
	}
}

func TestEvictionUnderTheBound(t *testing.T) {
	const mib = 1 << 20
	dir := t.TempDir()
	c := openCache(t, openStore(t), Options{Dir: dir, Size: 2*mib + mib/2})
	var ids []string
	for range 3 {
		id, _ := put(t, c, mib)
		read(t, c, id)
		waitFill(c, id)
		ids = append(ids, id)
	}
	if st := c.FillStats(); st.Done != 3 {
		t.Fatalf("fills %+v, want 3 done", st)
	}
	st := c.disk.Stats()
	if st.Entries != 2 || st.Evictions != 1 || st.Bytes != 2*mib {
		t.Fatalf("stats %+v, want 2 entries after 1 eviction", st)
	}
	for _, id := range ids[1:] {
		if _, local := read(t, c, id); !local {
			t.Fatalf("blob %s was evicted, want it kept", id)
		}
	}
	// Last: this miss fills it again, evicting another.
	if _, local := read(t, c, ids[0]); local {
		t.Fatal("the least recently used blob is still kept")
	}
	waitFill(c, ids[0])
	var onDisk int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			fi, _ := d.Info()
			onDisk += fi.Size()
		}
		return nil
	})
	if onDisk > 2*mib+mib/2 {
		t.Fatalf("%d bytes on disk, over the bound", onDisk)
	}
}

func TestDeleteRemovesTheCopy(t *testing.T) {
	c := openCache(t, openStore(t), Options{})
	id, data := put(t, c, 512<<10)
	read(t, c, id)
	waitFill(c, id)
	held, err := c.Open(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := c.Delete(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Open(t.Context(), id); !storage.IsNotExist(err) {
		t.Fatalf("Open after Delete: %v, want not exist", err)
	}
	if st := c.disk.Stats(); st.Entries != 0 || st.Bytes != 0 {
		t.Fatalf("stats %+v: the copy is still counted", st)
	}
	// A reader that held the copy reads on, as from a local store.
	got, err := io.ReadAll(held)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the held copy: %v, equal %v", err, bytes.Equal(got, data))
	}
}

// gated is a store whose fills (OpenStream) wait for the gate before
// their first read.
type gated struct {
	*s3store.Backend
	started chan string   // a fill opened its blob
	gate    chan struct{} // closed: fills read on
}

func (g *gated) OpenStream(ctx context.Context, id string) (storage.Blob, error) {
	b, err := g.Backend.OpenStream(ctx, id)
	if err != nil {
		return nil, err
	}
	g.started <- id
	return &gatedBlob{Blob: b, g: g, ctx: ctx}, nil
}

type gatedBlob struct {
	storage.Blob
	g   *gated
	ctx context.Context
}

func (b *gatedBlob) Read(p []byte) (int, error) {
	select {
	case <-b.g.gate:
	case <-b.ctx.Done(): // the fill was stopped
		return 0, b.ctx.Err()
	}
	return b.Blob.Read(p)
}

func newGated(t *testing.T) *gated {
	return &gated{Backend: openStore(t), started: make(chan string, 10), gate: make(chan struct{})}
}

func TestFillRacingDelete(t *testing.T) {
	g := newGated(t)
	c := openCache(t, g, Options{})
	id, _ := put(t, c, 1<<20)
	read(t, c, id) // a miss: the fill starts and waits at the gate
	<-g.started
	if err := c.Delete(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	close(g.gate)
	waitFill(c, id)
	if st := c.FillStats(); st.Dropped != 1 || st.Done != 0 {
		t.Fatalf("fills %+v, want the one dropped", st)
	}
	if st := c.disk.Stats(); st.Entries != 0 || st.Reserved != 0 {
		t.Fatalf("stats %+v: the deleted blob was kept", st)
	}
	if des, _ := os.ReadDir(c.disk.TempDir()); len(des) != 0 {
		t.Fatalf("temp files left: %v", des)
	}
	if _, err := c.Open(t.Context(), id); !storage.IsNotExist(err) {
		t.Fatalf("Open after Delete: %v, want not exist", err)
	}
}

func TestOneFillPerBlobAndTheBound(t *testing.T) {
	g := newGated(t)
	c := openCache(t, g, Options{Fills: 1})
	a, data := put(t, c, 1<<20)
	b, _ := put(t, c, 1<<20)
	read(t, c, a)
	<-g.started
	read(t, c, a) // the fill of a runs: no second one
	read(t, c, b) // the one slot is taken: b is served, not filled
	if st := c.FillStats(); st.Busy != 1 {
		t.Fatalf("fills %+v, want b's refused as busy", st)
	}
	close(g.gate)
	waitFill(c, a)
	if st := c.FillStats(); st.Done != 1 {
		t.Fatalf("fills %+v, want one done", st)
	}
	select {
	case id := <-g.started:
		t.Fatalf("a second fill of %s ran", id)
	default:
	}
	if got, local := read(t, c, a); !local || !bytes.Equal(got, data) {
		t.Fatalf("a: local %v, equal %v", local, bytes.Equal(got, data))
	}
}

func TestWrongSizeIsNotServed(t *testing.T) {
	dir := t.TempDir()
	c := openCache(t, openStore(t), Options{Dir: dir})
	id, data := put(t, c, 1<<20)
	read(t, c, id)
	waitFill(c, id)
	path := filepath.Join(dir, "blobs", id)
	for _, size := range []int64{1<<20 - 1, 1<<20 + 1} {
		if err := os.Truncate(path, size); err != nil {
			t.Fatal(err)
		}
		got, local := read(t, c, id)
		if local || !bytes.Equal(got, data) {
			t.Fatalf("copy of %d bytes: local %v, equal %v; want the store's bytes", size, local, bytes.Equal(got, data))
		}
		waitFill(c, id) // the miss filled it again
		if got, local := read(t, c, id); !local || !bytes.Equal(got, data) {
			t.Fatalf("after the refill: local %v, equal %v", local, bytes.Equal(got, data))
		}
	}
}

// filledThenClosed returns a cache directory holding a copy of a 1 MiB
// blob of store, whose cache was closed: a server stopped.
func filledThenClosed(t *testing.T) (dir string, store *s3store.Backend, id string, data []byte) {
	t.Helper()
	dir = t.TempDir()
	store = openStore(t)
	c, err := Open(store, Options{Dir: dir, Size: 64 << 20, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	id, data = put(t, c, 1<<20)
	read(t, c, id)
	waitFill(c, id)
	c.Close()
	return dir, store, id, data
}

func TestKeptAcrossRestart(t *testing.T) {
	dir, store, id, data := filledThenClosed(t)
	c := openCache(t, store, Options{Dir: dir})
	if got, local := read(t, c, id); !local || !bytes.Equal(got, data) {
		t.Fatalf("after a restart: local %v, equal %v", local, bytes.Equal(got, data))
	}
}

func TestCloseStopsFills(t *testing.T) {
	g := newGated(t)
	c, err := Open(g, Options{Dir: t.TempDir(), Size: 64 << 20, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := put(t, c, 1<<20)
	read(t, c, id)
	<-g.started
	c.Close() // cancels the fill waiting at the gate, and waits for it
	if st := c.FillStats(); st.Done != 0 || st.Failed != 1 {
		t.Fatalf("fills %+v, want the one failed", st)
	}
}

// filledFirst opens every blob twice: the first Open's fill is awaited,
// so that the suite reads the local copies (of every blob with a byte).
type filledFirst struct{ *Cache }

func (f filledFirst) Open(ctx context.Context, id string) (storage.Blob, error) {
	b, err := f.Cache.Open(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, local := b.(*fileBlob); local {
		return b, nil
	}
	b.Close()
	waitFill(f.Cache, id)
	return f.Cache.Open(ctx, id)
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		return filledFirst{openCache(t, openStore(t), Options{MinSize: -1, Fills: 8})}
	}, storagetest.WithPartSize(testPartSize), storagetest.WithClockSkew(3*time.Second))
}

// TestConformanceStore runs the suite on the cache as the server uses
// it, whose reads mostly miss (the suite's blobs are read once).
func TestConformanceStore(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		return openCache(t, openStore(t), Options{MinSize: -1})
	}, storagetest.WithoutReadAfterDelete(), storagetest.WithPartSize(testPartSize),
		storagetest.WithClockSkew(3*time.Second))
}

// TestForgetAfterRestart: a copy changed on disk while the server was
// stopped has only its new length on record, so the cache serves it;
// the reader that finds its size wrong against the metadata (objects)
// calls Forget, and the next Open reads the store.
func TestForgetAfterRestart(t *testing.T) {
	dir, store, id, data := filledThenClosed(t)
	if err := os.Truncate(filepath.Join(dir, "blobs", id), 1<<19); err != nil {
		t.Fatal(err)
	}
	c := openCache(t, store, Options{Dir: dir})
	b, err := c.Open(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if b.Size() != 1<<19 {
		t.Fatalf("the changed copy opens with %d bytes, want its %d on disk", b.Size(), 1<<19)
	}
	b.Close()
	c.Forget(id)
	if got, local := read(t, c, id); local || !bytes.Equal(got, data) {
		t.Fatalf("after Forget: local %v, equal %v; want the store's bytes", local, bytes.Equal(got, data))
	}
}
