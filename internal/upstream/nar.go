package upstream

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
)

// doneGrace is how long a verified download stays joinable after its
// commit, so a caller that looked for the committed copy just before the
// commit and missed it joins this download instead of starting another.
const doneGrace = 30 * time.Second

// commitTimeout bounds a Sink's Commit: unless EarlyRelease, the readers'
// last bytes wait for it.
const commitTimeout = 5 * time.Minute

// copyChunk is the size of the download's reads; readers are woken after
// each.
const copyChunk = 256 << 10

// Sink receives a NAR download's bytes as they arrive and learns its
// outcome. (Both sinks in nixbucket keep the temp file itself rather
// than the bytes: the proxy moves it into its disk cache, a pull-through
// bucket makes it the object's blob, and only computes a checksum of the
// bytes as they pass.) The Fetcher calls its methods from one goroutine.
// A Write error stops further writes and ends in Abort.
type Sink interface {
	io.Writer
	// Commit is called once, after the whole file was received, checked
	// against its narinfo and fsynced, with the temp file's path, which
	// Commit may rename away (the proxy moves it into its disk cache; a
	// pull-through bucket makes it a blob): readers read the file through
	// a descriptor of their own, so the rename does not disturb them.
	// Readers are released after Commit returns, whatever it returns, or
	// before it is called with NARRequest.EarlyRelease.
	Commit(ctx context.Context, tempPath string) error
	// Abort is called instead of Commit, with the reason, when the
	// download failed, did not match (err matches ErrMismatch), or a Write
	// failed. The readers get their error after Abort returns.
	Abort(err error)
}

// NARRequest says which NAR file to fetch and where to put it.
type NARRequest struct {
	Source string           // Narinfo.Source: the source that served Info
	Info   *narinfo.NarInfo // gives URL, FileSize, FileHash, Compression, NarHash
	Dir    string           // directory for the temp file
	Sink   Sink             // may be nil
	// EarlyRelease lets the readers have their last bytes as soon as the
	// file is verified, while the Sink's Commit runs behind them (see
	// Download.run); without it they wait for the Commit, so a caller
	// that reads the whole file finds it kept (the proxy's disk cache
	// promises that).
	EarlyRelease bool
}

// Download is one NAR file being fetched (or just fetched) from an
// upstream, shared by every caller that asked for it. Callers read it
// through NewReader and Close their handle when done.
type Download struct {
	f    *Fetcher
	key  string
	src  *source
	info *narinfo.NarInfo
	size int64
	path string
	file *os.File

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at each progress
	written int64
	// received: the fetch has read the upstream's body to its end (not
	// yet checked); the decoder (narcheck.go) stops following there.
	received bool
	done     bool
	err      error // after done: nil when verified
	refs     int
	settled  chan struct{} // closed once the sink committed or aborted
}

// FetchNAR returns the download of req.Info's NAR file from req.Source,
// starting it unless one is running (or finished moments ago), in which
// case req.Dir and req.Sink are unused and started is false. The download
// runs on its own, whatever happens to ctx: other callers may be waiting
// for it. The caller must Close the Download.
func (f *Fetcher) FetchNAR(ctx context.Context, req NARRequest) (d *Download, started bool, err error) {
	s := f.source(req.Source)
	if s == nil {
		return nil, false, fmt.Errorf("NAR %s: no upstream %q: %w", req.Info.URL, req.Source, ErrNotFound)
	}
	if err := checkNARURL(req.Info.URL); err != nil {
		return nil, false, err
	}
	want, err := nixhash.ParseSHA256(req.Info.FileHash)
	if err != nil || req.Info.FileSize == 0 {
		return nil, false, fmt.Errorf("NAR %s: narinfo has no usable FileHash and FileSize", req.Info.URL)
	}
	key := req.Source + "\x00" + req.Info.URL
	f.narMu.Lock()
	if d := f.nars[key]; d != nil {
		d.mu.Lock()
		d.refs++
		d.mu.Unlock()
		f.narMu.Unlock()
		return d, false, nil
	}
	tmp, err := os.CreateTemp(req.Dir, "upstream-nar-*")
	if err != nil {
		f.narMu.Unlock()
		return nil, false, fmt.Errorf("NAR %s: temp file: %w", req.Info.URL, err)
	}
	d = &Download{
		f: f, key: key, src: s, info: req.Info, size: int64(req.Info.FileSize),
		path: tmp.Name(), file: tmp, changed: make(chan struct{}), settled: make(chan struct{}),
		refs: 3, // the caller, the fetch, the map entry
	}
	f.nars[key] = d
	f.narMu.Unlock()
	go d.run(want, req.Sink, req.EarlyRelease)
	return d, true, nil
}

// checkNARURL refuses narinfo URLs that could reach outside the cache.
func checkNARURL(u string) error {
	if u == "" || strings.HasPrefix(u, "/") || strings.Contains(u, "://") || strings.Contains(u, "?") ||
		path.Clean(u) != u || strings.HasPrefix(u, "../") {
		return fmt.Errorf("narinfo URL %q is not a plain relative path", u)
	}
	return nil
}

// Size is the NAR file's size (its FileSize).
func (d *Download) Size() int64 { return d.size }

// Info is the narinfo the download is checked against.
func (d *Download) Info() *narinfo.NarInfo { return d.info }

// run fetches the file, checks it, commits or aborts the sink, and wakes
// the readers.
//
// With early, the readers' last bytes are released as soon as the file is
// verified, before the sink keeps it (fsync, then Commit: for a
// pull-through bucket, hashing the file for its ETag and placing it as a
// blob): a client then goes on to its next path while the copy is kept
// behind it, instead of waiting for the disk. Either way the download
// stays in the map until the sink is done, so a caller that looked for the
// kept copy too early joins this one (and reads the same verified file)
// rather than fetching again.
func (d *Download) run(want nixhash.SHA256, sink Sink, early bool) {
	ctx := context.Background()
	err := d.fetch(ctx, want, &sink)
	if err != nil {
		if sink != nil {
			sink.Abort(err)
		}
		if errors.Is(err, ErrMismatch) {
			d.src.counters.mismatches.Add(1)
		}
		d.f.log.Error("upstream NAR download failed", "upstream", d.src.src.Name(), "url", d.info.URL, "err", err)
		d.finish(err)
		close(d.settled)
		d.leaveMap()
		d.unref()
		return
	}
	if early || sink == nil {
		d.finish(nil)
	}
	// Verified: joinable for doneGrace, unless the sink failed to keep it.
	joinable := sink == nil || d.keep(ctx, sink)
	if !early && sink != nil {
		d.finish(nil) // the bytes are good even if keeping them failed
	}
	close(d.settled)
	if joinable {
		time.AfterFunc(doneGrace, d.leaveMap)
	} else {
		d.leaveMap() // not kept: the next caller fetches again
	}
	d.unref()
}

// Settled waits until the download has ended and its sink, if any, has
// committed or aborted: the readers may have had their bytes well before.
func (d *Download) Settled(ctx context.Context) error {
	select {
	case <-d.settled:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// keep makes the verified file durable and hands it to the sink; it
// reports whether the sink kept it.
func (d *Download) keep(ctx context.Context, sink Sink) bool {
	err := d.file.Sync()
	if err != nil {
		err = fmt.Errorf("syncing the temp file: %w", err)
		sink.Abort(err)
	} else {
		cctx, cancel := context.WithTimeout(ctx, commitTimeout)
		err = sink.Commit(cctx, d.path)
		cancel()
	}
	if err != nil {
		d.f.log.Error("keeping an upstream NAR failed", "upstream", d.src.src.Name(), "url", d.info.URL, "err", err)
		return false
	}
	return true
}

// finish ends the download and wakes the readers: err nil means verified.
func (d *Download) finish(err error) {
	d.mu.Lock()
	d.done, d.err = true, err
	close(d.changed)
	d.changed = make(chan struct{})
	d.mu.Unlock()
}

func (d *Download) leaveMap() {
	d.f.narMu.Lock()
	if d.f.nars[d.key] == d {
		delete(d.f.nars, d.key)
	}
	d.f.narMu.Unlock()
	d.unref()
}

// fetch copies the file to the temp file (and the sink) and checks it.
// A sink whose Write fails is aborted and set to nil: the download goes on
// for its readers.
func (d *Download) fetch(ctx context.Context, want nixhash.SHA256, sinkp *Sink) error {
	sink := *sinkp
	body, size, err := d.f.open(ctx, d.src, d.info.URL, nil, 0)
	if err != nil {
		return err
	}
	defer body.Close()
	if size >= 0 && size != d.size {
		return fmt.Errorf("%s: upstream says %d bytes, narinfo FileSize %d: %w", d.info.URL, size, d.size, ErrMismatch)
	}
	check := d.startNarCheck()
	if check != nil {
		defer check.end()
	}
	h := sha256.New()
	buf := make([]byte, copyChunk)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if d.written+int64(n) > d.size {
				return fmt.Errorf("%s: more than FileSize %d bytes: %w", d.info.URL, d.size, ErrMismatch)
			}
			if _, err := d.file.WriteAt(buf[:n], d.written); err != nil {
				return fmt.Errorf("%s: writing the temp file: %w", d.info.URL, err)
			}
			// Readers first: they send these bytes while they are hashed.
			d.progress(int64(n))
			h.Write(buf[:n])
			if sink != nil {
				if _, err := sink.Write(buf[:n]); err != nil {
					d.f.log.Error("storing an upstream NAR failed; still serving it", "url", d.info.URL, "err", err)
					sink.Abort(err)
					sink, *sinkp = nil, nil
				}
			}
		}
		if rerr == io.EOF {
			d.mu.Lock()
			d.received = true
			close(d.changed)
			d.changed = make(chan struct{})
			d.mu.Unlock()
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if d.written != d.size {
		return fmt.Errorf("%s: %d bytes, narinfo FileSize %d: %w", d.info.URL, d.written, d.size, ErrMismatch)
	}
	var got nixhash.SHA256
	h.Sum(got[:0])
	if got != want {
		return fmt.Errorf("%s: FileHash %s, narinfo says %s: %w", d.info.URL, got, d.info.FileHash, ErrMismatch)
	}
	if d.info.Compression == "none" {
		if nar, err := nixhash.ParseSHA256(d.info.NarHash); err != nil || nar != got || d.info.NarSize != uint64(d.size) {
			return fmt.Errorf("%s: uncompressed, but NarHash/NarSize differ from the file's: %w", d.info.URL, ErrMismatch)
		}
	}
	if check != nil {
		return check.wait()
	}
	return nil
}

func (d *Download) progress(n int64) {
	d.mu.Lock()
	d.written += n
	close(d.changed)
	d.changed = make(chan struct{})
	d.mu.Unlock()
}

// Wait waits for the download to end and returns nil if it was verified.
func (d *Download) Wait(ctx context.Context) error {
	for {
		d.mu.Lock()
		done, err, ch := d.done, d.err, d.changed
		d.mu.Unlock()
		if done {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close releases the caller's handle. Readers made from it stay usable
// until they are closed.
func (d *Download) Close() error {
	d.unref()
	return nil
}

// unref drops a reference; the last one closes and removes the temp file
// (gone already if the sink's Commit moved it).
func (d *Download) unref() {
	d.mu.Lock()
	d.refs--
	last := d.refs == 0
	d.mu.Unlock()
	if last {
		// Only if the path still names this file: a Commit that moved it
		// away (a blob, a cache entry) may have left the name free for
		// another download's temp file.
		if own, err := d.file.Stat(); err == nil {
			if fi, err := os.Stat(d.path); err == nil && os.SameFile(fi, own) {
				os.Remove(d.path)
			}
		}
		d.file.Close()
	}
}

// NewReader returns a reader of length bytes of the file from offset
// (length < 0: to the end). It reads what has arrived and waits for the
// rest; its last byte comes only once the whole file is verified, and if
// the download fails the reader fails instead, so a reader that reaches
// io.EOF has read checked bytes only. ctx bounds the waits. The caller
// closes the reader.
func (d *Download) NewReader(ctx context.Context, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || offset > d.size {
		return nil, fmt.Errorf("NAR %s: offset %d outside its %d bytes", d.info.URL, offset, d.size)
	}
	end := d.size
	if length >= 0 && offset+length < end {
		end = offset + length
	}
	d.mu.Lock()
	d.refs++
	d.mu.Unlock()
	return &reader{d: d, ctx: ctx, pos: offset, end: end}, nil
}

type reader struct {
	d        *Download
	ctx      context.Context
	pos, end int64
	closed   bool
}

func (r *reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, errors.New("read of a closed upstream NAR reader")
	}
	if r.pos >= r.end {
		// A zero-length range: nothing to hold back, but the download
		// must still have succeeded.
		if err := r.d.Wait(r.ctx); err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	limit, err := r.ready()
	if err != nil {
		return 0, err
	}
	n := int(min(int64(len(p)), limit-r.pos))
	n, rerr := r.d.file.ReadAt(p[:n], r.pos)
	r.pos += int64(n)
	if rerr != nil && rerr != io.EOF {
		return n, fmt.Errorf("NAR %s: reading the temp file: %w", r.d.info.URL, rerr)
	}
	if r.pos == r.end {
		return n, io.EOF
	}
	return n, nil
}

// ready waits until bytes from r.pos on may be read and returns where
// they end: what has arrived, less the range's last byte until the file
// is verified. It fails if the download failed or ctx ended.
func (r *reader) ready() (int64, error) {
	d := r.d
	for {
		d.mu.Lock()
		done, err, written, ch := d.done, d.err, d.written, d.changed
		d.mu.Unlock()
		if done && err != nil {
			return 0, err
		}
		limit := min(written, r.end)
		if !done && limit == r.end {
			limit = r.end - 1 // the last byte waits for the verdict
		}
		if limit > r.pos {
			return limit, nil
		}
		select {
		case <-ch:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
}

// WriteTo copies the rest of the range to w, as io.Copy does with Read,
// but when w is an io.ReaderFrom (an HTTP response: sendfile from a file)
// each span that has arrived goes to it from a file description of the
// reader's own, so the kernel moves the bytes and they are not copied
// through this process.
func (r *reader) WriteTo(w io.Writer) (int64, error) {
	rf, ok := w.(io.ReaderFrom)
	if r.closed || r.pos >= r.end || !ok {
		return io.Copy(w, struct{ io.Reader }{r})
	}
	// /proc/self/fd gives a description with an offset of its own, and
	// works after the temp file was renamed away (EarlyRelease).
	f, err := os.Open("/proc/self/fd/" + strconv.Itoa(int(r.d.file.Fd())))
	if err != nil {
		return io.Copy(w, struct{ io.Reader }{r})
	}
	defer f.Close()
	var total int64
	for r.pos < r.end {
		limit, err := r.ready()
		if err != nil {
			return total, err
		}
		if _, err := f.Seek(r.pos, io.SeekStart); err != nil {
			return total, fmt.Errorf("NAR %s: reading the temp file: %w", r.d.info.URL, err)
		}
		want := limit - r.pos
		n, err := rf.ReadFrom(&io.LimitedReader{R: f, N: want})
		r.pos += n
		total += n
		if err != nil {
			return total, err
		}
		if n < want {
			return total, fmt.Errorf("NAR %s: the temp file ended after %d bytes: %w", r.d.info.URL, r.pos, io.ErrUnexpectedEOF)
		}
	}
	return total, nil
}

func (r *reader) Close() error {
	if !r.closed {
		r.closed = true
		r.d.unref()
	}
	return nil
}
