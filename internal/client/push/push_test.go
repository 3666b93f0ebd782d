package push

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/nixbucket/nixbucket/internal/client/localstore"
	"github.com/nixbucket/nixbucket/internal/client/spool"
	"github.com/nixbucket/nixbucket/internal/client/storeurl"
	"github.com/nixbucket/nixbucket/internal/client/target"
	"github.com/nixbucket/nixbucket/internal/nix/nar"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

// The Nix database schema, as Nix 2.8 creates it (the tables push reads).
const schema = `
CREATE TABLE ValidPaths (id integer primary key autoincrement not null, path text unique not null,
  hash text not null, registrationTime integer not null, deriver text, narSize integer,
  ultimate integer, sigs text, ca text);
CREATE TABLE Refs (referrer integer not null, reference integer not null, primary key (referrer, reference));
`

// fakeStore is a Nix store in a temporary directory: store paths with a few
// files each, registered in a database with their real NAR hashes.
type fakeStore struct {
	dir, db string
	paths   map[string]string // name → store path
}

// storePath describes one path: its name, its references (names) and the
// size of its one data file.
type storePath struct {
	name string
	refs []string
	size int
}

func newFakeStore(t *testing.T, paths []storePath) *fakeStore {
	t.Helper()
	root := t.TempDir()
	s := &fakeStore{dir: filepath.Join(root, "store"), db: filepath.Join(root, "db.sqlite"), paths: map[string]string{}}
	db, err := sql.Open("sqlite", s.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(schema); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for i, p := range paths {
		hash := fmt.Sprintf("%032d", i)
		hash = strings.NewReplacer("0", "a", "1", "b", "2", "c", "3", "d", "4", "f", "5", "g", "6", "h", "7", "i", "8", "j", "9", "k").Replace(hash)
		sp := filepath.Join(s.dir, hash+"-"+p.name)
		s.paths[p.name] = sp
		if err := os.MkdirAll(filepath.Join(sp, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		data := make([]byte, p.size)
		for j := range data {
			data[j] = byte(j * (i + 1) % 251)
		}
		var deps strings.Builder
		for _, r := range p.refs {
			deps.WriteString(s.paths[r] + "\n")
		}
		for name, body := range map[string][]byte{"bin/tool": data, "deps": []byte(deps.String())} {
			if err := os.WriteFile(filepath.Join(sp, name), body, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink("tool", filepath.Join(sp, "bin", "link")); err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		cw := &countW{w: h}
		if err := nar.DumpPath(cw, sp); err != nil {
			t.Fatal(err)
		}
		var sum nixhash.SHA256
		h.Sum(sum[:0])
		r, err := db.Exec(`INSERT INTO ValidPaths (path, hash, registrationTime, deriver, narSize, sigs) VALUES (?, ?, 1, ?, ?, NULL)`,
			sp, sum.Hex(), filepath.Join(s.dir, hash+"-"+p.name+".drv"), cw.n)
		if err != nil {
			t.Fatal(err)
		}
		ids[p.name], _ = r.LastInsertId()
		for _, ref := range p.refs {
			if _, err := db.Exec(`INSERT INTO Refs VALUES (?, ?)`, ids[p.name], ids[ref]); err != nil {
				t.Fatal(err)
			}
		}
	}
	return s
}

type countW struct {
	w interface{ Write([]byte) (int, error) }
	n int64
}

func (c *countW) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// recorder wraps a target, recording the keys put in order, and failing
// puts of keys with a given prefix.
type recorder struct {
	target.Target
	mu     sync.Mutex
	puts   []string
	failOn string
}

func (r *recorder) Put(ctx context.Context, key string, f *spool.File, m target.Meta) error {
	if r.failOn != "" && strings.HasPrefix(key, r.failOn) {
		return errors.New("injected failure")
	}
	if err := r.Target.Put(ctx, key, f, m); err != nil {
		return err
	}
	r.mu.Lock()
	r.puts = append(r.puts, key)
	r.mu.Unlock()
	return nil
}

// graph is a closure where top references a diamond over base.
var graph = []storePath{
	{name: "base", size: 3000},
	{name: "left", refs: []string{"base"}, size: 200000},
	{name: "right", refs: []string{"base"}, size: 10},
	{name: "top", refs: []string{"left", "right", "base"}, size: 5000},
	{name: "other", size: 100},
}

type env struct {
	store *fakeStore
	ls    *localstore.Store
	cache string
	url   *storeurl.Store
	rec   *recorder
	key   signature.SecretKey
	// memLimit is the pusher's MemLimit: 0 for the default (NARs wait in
	// memory), 1024 to spool them to files.
	memLimit int
}

func setup(t *testing.T, params string) *env {
	t.Helper()
	e := &env{store: newFakeStore(t, graph), cache: t.TempDir()}
	var err error
	if e.ls, err = localstore.Open(context.Background(), e.store.db, e.store.dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ls.Close() })
	if e.url, err = storeurl.Parse("file://" + e.cache + "?" + params); err != nil {
		t.Fatal(err)
	}
	tgt, err := target.Open(context.Background(), e.url, target.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.rec = &recorder{Target: tgt}
	if e.key, err = signature.Generate("push-test-1"); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) run(t *testing.T, roots ...string) (Summary, map[string]Result, error) {
	t.Helper()
	results := map[string]Result{}
	p := New(Options{Store: e.ls, Target: e.rec, URL: e.url, Keys: []signature.SecretKey{e.key}, Jobs: 3, TmpDir: t.TempDir(), MemLimit: e.memLimit,
		OnPath: func(r Result) { results[filepath.Base(r.Path)[33:]] = r }})
	var paths []string
	for _, r := range roots {
		paths = append(paths, e.store.paths[r])
	}
	s, err := p.Run(context.Background(), paths)
	if n := p.mem.InUse(); n != 0 {
		t.Errorf("after Run, %d bytes of the memory budget are still in use", n)
	}
	return s, results, err
}

func (e *env) narinfo(t *testing.T, name string) *narinfo.NarInfo {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.cache, filepath.Base(e.store.paths[name])[:32]+".narinfo"))
	if err != nil {
		t.Fatal(err)
	}
	ni, err := narinfo.Parse(b)
	if err == nil {
		err = ni.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	return ni
}

func TestPush(t *testing.T) {
	for _, params := range []string{"", "compression=none&write-nar-listing=1", "compression=br", "compression=gzip&parallel-compression=false", "memlimit"} {
		t.Run(params, func(t *testing.T) {
			e := setup(t, strings.TrimPrefix(params, "memlimit"))
			if params == "memlimit" { // NARs through temporary files
				e.memLimit = 1024
			}
			sum, results, err := e.run(t, "top", "other")
			if err != nil {
				t.Fatal(err)
			}
			if sum.Paths != 5 || sum.Pushed != 5 || sum.Failed != 0 || sum.Skipped != 0 || sum.Uploaded != sum.FileBytes {
				t.Errorf("summary %+v", sum)
			}
			infos, err := e.ls.Closure(context.Background(), []string{e.store.paths["top"], e.store.paths["other"]})
			if err != nil {
				t.Fatal(err)
			}
			written := map[string]int{} // key → order
			for i, k := range e.rec.puts {
				written[k] = i
			}
			if _, ok := written["nix-cache-info"]; !ok {
				t.Error("nix-cache-info not created")
			}
			for _, info := range infos {
				name := filepath.Base(info.Path)[33:]
				ni := e.narinfo(t, name)
				if ni.NarHash != info.NarHash || int64(ni.NarSize) != info.NarSize || ni.Compression != e.url.Compression || ni.Deriver != filepath.Base(info.Deriver) {
					t.Errorf("%s: narinfo\n%s", name, ni)
				}
				if !ni.Verify(e.key.Public()) {
					t.Errorf("%s: no valid signature", name)
				}
				if results[name].Status != Pushed || results[name].URL != ni.URL {
					t.Errorf("%s: result %+v", name, results[name])
				}
				// The NAR file is there, with the size and hash the narinfo states.
				b, err := os.ReadFile(filepath.Join(e.cache, ni.URL))
				if err != nil || uint64(len(b)) != ni.FileSize || nixhash.SHA256(sha256.Sum256(b)).String() != ni.FileHash {
					t.Errorf("%s: file %s: %d bytes, %v", name, ni.URL, len(b), err)
				}
				// Topological order: every reference's narinfo, and its own NAR,
				// were written before this narinfo.
				me := written[filepath.Base(info.Path)[:32]+".narinfo"]
				if written[ni.URL] > me {
					t.Errorf("%s: narinfo written before its NAR", name)
				}
				for _, r := range info.References {
					if r != info.Path && written[filepath.Base(r)[:32]+".narinfo"] > me {
						t.Errorf("%s: narinfo written before that of its reference %s", name, r)
					}
				}
				if e.url.WriteNARListing {
					if _, ok := written[filepath.Base(info.Path)[:32]+".ls"]; !ok {
						t.Errorf("%s: no listing", name)
					}
				}
			}

			// A second push uploads nothing.
			e.rec.puts = nil
			sum, _, err = e.run(t, "top", "other")
			if err != nil || sum.Skipped != 5 || sum.Pushed != 0 || len(e.rec.puts) != 0 {
				t.Errorf("second push: %+v, %v, puts %v", sum, err, e.rec.puts)
			}
		})
	}
}

// TestCorruption changes a file of "left" after it was registered: its NAR
// no longer hashes to the recorded NarHash, so it must not be uploaded, and
// "top", which references it, must not get a narinfo; the rest is pushed.
func TestCorruption(t *testing.T) {
	e := setup(t, "")
	tool := filepath.Join(e.store.paths["left"], "bin", "tool")
	if err := os.WriteFile(tool, []byte("tampered"), 0o755); err != nil {
		t.Fatal(err)
	}
	sum, results, err := e.run(t, "top", "other")
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("Run: %v, want ErrFailed", err)
	}
	var corrupt *CorruptError
	if r := results["left"]; r.Status != Failed || !errors.As(r.Err, &corrupt) || corrupt.Path != e.store.paths["left"] {
		t.Errorf("left: %+v, want a CorruptError", r)
	}
	if r := results["top"]; r.Status != Failed || !strings.Contains(r.Err.Error(), "left") {
		t.Errorf("top: %+v, want failed because of left", r)
	}
	for _, name := range []string{"base", "right", "other"} {
		if results[name].Status != Pushed {
			t.Errorf("%s: %+v, want pushed", name, results[name])
		}
	}
	if sum.Pushed != 3 || sum.Failed != 2 {
		t.Errorf("summary %+v", sum)
	}
	for _, k := range e.rec.puts {
		for _, name := range []string{"left", "top"} {
			if k == filepath.Base(e.store.paths[name])[:32]+".narinfo" {
				t.Errorf("the narinfo of %s was written", name)
			}
		}
	}
	// The NARs and narinfos of base, right and other; top's NAR unless it
	// started after left failed; never left's.
	var nars, narinfos int
	for _, k := range e.rec.puts {
		switch {
		case strings.HasPrefix(k, "nar/"):
			nars++
		case strings.HasSuffix(k, ".narinfo"):
			narinfos++
		}
	}
	if narinfos != 3 || nars != 3 && nars != 4 {
		t.Errorf("%d NARs and %d narinfos written, want 3 or 4 and 3: %v", nars, narinfos, e.rec.puts)
	}
}

// TestUploadFailure fails every NAR upload: nothing but nix-cache-info is
// written, and every path reports why.
func TestUploadFailure(t *testing.T) {
	e := setup(t, "")
	e.rec.failOn = "nar/"
	sum, results, err := e.run(t, "top")
	if !errors.Is(err, ErrFailed) || sum.Failed != 4 || sum.Pushed != 0 {
		t.Fatalf("Run: %+v, %v", sum, err)
	}
	for name, r := range results {
		if r.Err == nil || !strings.Contains(r.Err.Error(), "injected failure") && !strings.Contains(r.Err.Error(), "failed") {
			t.Errorf("%s: %v", name, r.Err)
		}
	}
	if len(e.rec.puts) != 1 {
		t.Errorf("written: %v, want only nix-cache-info", e.rec.puts)
	}
}

// TestWrongStore refuses a cache made for another store directory.
func TestWrongStore(t *testing.T) {
	e := setup(t, "")
	if err := os.WriteFile(filepath.Join(e.cache, "nix-cache-info"), []byte("StoreDir: /gnu/store\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.run(t, "base"); err == nil || !strings.Contains(err.Error(), "/gnu/store") {
		t.Errorf("Run: %v, want an error naming the cache's store", err)
	}
}

func TestCancel(t *testing.T) {
	e := setup(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := New(Options{Store: e.ls, Target: e.rec, URL: e.url})
	if _, err := p.Run(ctx, []string{e.store.paths["top"]}); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled context: %v", err)
	}
}

// cancelling is a target that cancels the push at its first NAR upload
// and fails it, as Ctrl-C in the middle of one does.
type cancelling struct {
	target.Target
	cancel func()
}

func (c *cancelling) Put(ctx context.Context, key string, f *spool.File, m target.Meta) error {
	if strings.HasPrefix(key, "nar/") {
		c.cancel()
		<-ctx.Done()
		return fmt.Errorf("uploading %s: %w", key, ctx.Err())
	}
	return c.Target.Put(ctx, key, f, m)
}

// TestCancelMidway cancels a push while it uploads: Run says so, and the
// paths it stopped are marked Aborted, so that the interruption is told
// once rather than as a "context canceled" failure per path in flight.
func TestCancelMidway(t *testing.T) {
	e := setup(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var failed []Result
	p := New(Options{Store: e.ls, Target: &cancelling{Target: e.rec, cancel: cancel}, URL: e.url, Jobs: 3,
		OnPath: func(r Result) {
			if r.Status == Failed {
				failed = append(failed, r)
			}
		}})
	if _, err := p.Run(ctx, []string{e.store.paths["top"]}); !errors.Is(err, context.Canceled) {
		t.Errorf("Run cancelled midway: %v, want context.Canceled", err)
	}
	if len(failed) == 0 {
		t.Fatal("no path failed")
	}
	for _, r := range failed {
		if !r.Aborted {
			t.Errorf("%s: failed (%v) without Aborted", r.Path, r.Err)
		}
	}
}
