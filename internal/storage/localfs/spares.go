package localfs

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
)

// Spare files. A commit through tmp/ renames the blob into its fan-out
// directory and fsyncs that directory: on this kind of machine that second
// fsync costs nearly a millisecond per blob. Spares are empty files made
// ahead of time in batches, all of a batch in one fan-out directory that is
// fsynced once for the batch. A writer that takes a spare writes in place,
// and its commit needs one fsync of the file and no rename.
//
// Until committed, a spare (and a writer using it) has mode spareMode,
// which Commit changes to filePerm before its fsync. Walk and Open ignore
// files in spareMode, so the sweeper never takes a spare for an
// unreferenced blob and a half-written one is never read. Walk removes
// spareMode files this process did not make: spares and half-written
// blobs left by a crash.

const (
	spareBatch = 64    // spares made at once, in one directory
	spareLow   = 16    // refill when fewer are ready
	spareMode  = 0o200 // an uncommitted spare: write-only
)

type spares struct {
	mu      sync.Mutex
	ready   []string
	hidden  map[string]bool
	filling bool
	closed  bool
	next    int // fan-out directory of the next batch
	wg      sync.WaitGroup
}

// takeSpare returns a ready spare's ID, starting a refill when few are
// left. ok is false when none is ready; the caller then goes through tmp/.
func (b *Backend) takeSpare() (id string, ok bool) {
	s := &b.spares
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ready) < spareLow && !s.filling && !s.closed {
		s.filling = true
		dir := s.next % 256
		s.next++
		s.wg.Add(1)
		go b.fillSpares(dir)
	}
	if len(s.ready) == 0 {
		return "", false
	}
	id = s.ready[len(s.ready)-1]
	s.ready = s.ready[:len(s.ready)-1]
	return id, true
}

// fillSpares makes a batch of spares in fan-out directory dir.
func (b *Backend) fillSpares(dir int) {
	defer b.spares.wg.Done()
	prefix := hex.EncodeToString([]byte{byte(dir)})
	s := &b.spares
	made := make([]string, 0, spareBatch)
	for range spareBatch {
		id := prefix + newID()[2:]
		s.mu.Lock()
		if s.hidden == nil {
			s.hidden = map[string]bool{}
		}
		s.hidden[id] = true // before it exists, so Walk never removes it
		s.mu.Unlock()
		f, err := os.OpenFile(b.path(id), os.O_WRONLY|os.O_CREATE|os.O_EXCL, spareMode)
		if err != nil {
			b.unhide(id)
			break
		}
		f.Close()
		made = append(made, id)
	}
	err := syncDir(filepath.Join(b.blobs, prefix))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.filling = false
	if err != nil {
		for _, id := range made {
			os.Remove(b.path(id))
			delete(s.hidden, id)
		}
		return
	}
	s.ready = append(s.ready, made...)
}

// isHidden reports whether id is a spare or a blob being written in one.
func (b *Backend) isHidden(id string) bool {
	s := &b.spares
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hidden[id]
}

// unhide makes a committed or discarded spare an ordinary file again.
func (b *Backend) unhide(id string) {
	s := &b.spares
	s.mu.Lock()
	delete(s.hidden, id)
	s.mu.Unlock()
}

// Close waits for a refill in progress and removes the spares not used,
// so nothing writes in the root once it returns. The Backend must not be
// used afterwards.
func (b *Backend) Close() error {
	s := &b.spares
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.ready {
		os.Remove(b.path(id))
		delete(s.hidden, id)
	}
	s.ready = nil
	return nil
}
