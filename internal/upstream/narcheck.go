package upstream

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/nixbucket/nixbucket/internal/nix/codec"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
)

// A compressed NAR file whose FileHash matches its narinfo may still
// decode to another NAR than the narinfo's NarHash and NarSize say (an
// upstream that signed a wrong narinfo, or any narinfo under TrustAny).
// Kept, such a file would be served for good, and every client would
// fail on it. So while a compressed file downloads, a decoder follows it
// in the temp file (never slowing the download: it reads what has
// arrived) and the download is verified only once the decoded bytes
// match NarHash and NarSize. Compressions this server cannot decode (lz4,
// lzip) are checked by FileHash alone.

// decodeSlots bounds the NAR files decoded at once, each holding a window
// of at most codec.MaxWindow; a decoder without a slot waits, and catches
// up from the file once it has one.
var (
	decodeOnce  sync.Once
	decodeSlots chan struct{}
)

func decodeSlot(stop <-chan struct{}) bool {
	decodeOnce.Do(func() { decodeSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0))) })
	select {
	case decodeSlots <- struct{}{}:
		return true
	case <-stop:
		return false
	}
}

// errStopped ends a decoder whose download failed.
var errStopped = errors.New("download stopped")

// narCheck decodes the download's file as it arrives; wait returns its
// verdict once the whole file was received.
type narCheck struct {
	stop   chan struct{} // closed by end: the download is over, whatever happened
	result chan error
	once   sync.Once
}

// startNarCheck starts checking the decoded NAR against the narinfo's
// NarHash and NarSize, or returns nil when there is nothing to decode
// (Compression none is checked by the FileHash) or no decoder for it.
func (d *Download) startNarCheck() *narCheck {
	comp := codec.Canonical(d.info.Compression)
	if comp == "none" || !codec.Supported(comp) {
		return nil
	}
	want, err := nixhash.ParseSHA256(d.info.NarHash)
	c := &narCheck{stop: make(chan struct{}), result: make(chan error, 1)}
	if err != nil {
		c.result <- fmt.Errorf("%s: NarHash %q: %v: %w", d.info.URL, d.info.NarHash, err, ErrMismatch)
		return c
	}
	go func() { c.result <- d.decodeCheck(comp, want, c.stop) }()
	return c
}

func (d *Download) decodeCheck(comp string, want nixhash.SHA256, stop <-chan struct{}) error {
	if !decodeSlot(stop) {
		return errStopped
	}
	defer func() { <-decodeSlots }()
	dec, err := codec.NewReader(comp, &follower{d: d, stop: stop})
	if err != nil {
		return d.undecodable(comp, err)
	}
	defer dec.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, io.LimitReader(dec, int64(min(d.info.NarSize, 1<<62))+1), make([]byte, copyChunk))
	if err != nil {
		return d.undecodable(comp, err)
	}
	if uint64(n) != d.info.NarSize {
		return fmt.Errorf("%s: decodes to %d bytes or more, narinfo NarSize %d: %w", d.info.URL, n, d.info.NarSize, ErrMismatch)
	}
	var got nixhash.SHA256
	h.Sum(got[:0])
	if got != want {
		return fmt.Errorf("%s: decodes to NarHash %s, narinfo says %s: %w", d.info.URL, got, d.info.NarHash, ErrMismatch)
	}
	return nil
}

func (d *Download) undecodable(comp string, err error) error {
	if errors.Is(err, errStopped) {
		return err
	}
	return fmt.Errorf("%s: does not decode as %s: %v: %w", d.info.URL, comp, err, ErrMismatch)
}

// end stops the decoder (if it is still reading, the download failed).
func (c *narCheck) end() { c.once.Do(func() { close(c.stop) }) }

// wait returns the verdict, the whole file having been received.
func (c *narCheck) wait() error {
	err := <-c.result
	c.end()
	return err
}

// follower reads the download's temp file from the start as it grows,
// to the end of what the fetch received.
type follower struct {
	d    *Download
	pos  int64
	stop <-chan struct{}
}

func (r *follower) Read(p []byte) (int, error) {
	d := r.d
	for {
		d.mu.Lock()
		written, received, ch := d.written, d.received, d.changed
		d.mu.Unlock()
		if written > r.pos {
			n := int(min(int64(len(p)), written-r.pos))
			n, err := d.file.ReadAt(p[:n], r.pos)
			r.pos += int64(n)
			if err == io.EOF && n > 0 {
				err = nil
			}
			return n, err
		}
		if received {
			return 0, io.EOF
		}
		select {
		case <-ch:
		case <-r.stop:
			return 0, errStopped
		}
	}
}
