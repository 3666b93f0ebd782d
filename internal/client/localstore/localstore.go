// Package localstore reads what a local Nix store knows about its paths
// (references, NarHash, NarSize, deriver, signatures, content address)
// from the Nix database, read-only, and computes closures in the order a
// binary cache must receive them: references before referrers.
package localstore

import (
	"container/heap"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/nix/storepath"
)

// Defaults of a standard Nix installation.
const (
	DefaultStoreDir = storepath.DefaultDir
	DefaultDB       = "/nix/var/nix/db/db.sqlite"
)

// busyTimeout is how long a read waits for a Nix process that holds the
// database's write lock in a way that blocks readers (a WAL checkpoint or
// recovery); ordinary Nix writes never block a WAL reader.
const busyTimeout = 30 * time.Second

// ErrNotValid is wrapped by errors for paths that the store does not hold
// (not registered as valid in its database).
var ErrNotValid = errors.New("not a valid path in the Nix store")

// PathInfo is what the store's database records about one valid path.
type PathInfo struct {
	Path       string    // absolute store path
	NarHash    string    // "sha256:<nix32>"
	NarSize    int64     // size of the NAR serialisation
	References []string  // absolute store paths, sorted; may include Path itself
	Deriver    string    // absolute path of the deriver, or ""
	Sigs       []string  // "keyname:base64" signatures the store holds
	CA         string    // content address, or ""
	Registered time.Time // registration time
}

// Store is a read-only view of a local Nix store's database.
type Store struct {
	db  *sql.DB
	dir string
}

// Open opens the Nix database at dbPath read-only for the store directory
// storeDir. It never writes, takes no lock that would hold Nix up, and
// waits (up to busyTimeout) when Nix briefly locks readers out. When the
// database cannot be opened normally for lack of permission (a WAL database
// whose -shm file a non-root user cannot create), it falls back to reading
// it as immutable, which is only safe while Nix does not write, and says so
// in the error if that fails too.
func Open(ctx context.Context, dbPath, storeDir string) (*Store, error) {
	if err := storepath.ValidateDir(storeDir); err != nil {
		return nil, fmt.Errorf("local store: %w", err)
	}
	abs, err := filepath.Abs(dbPath)
	if err != nil {
		return nil, fmt.Errorf("local store database %s: %w", dbPath, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("local store database: %w (is Nix installed? set --db)", err)
	}
	// A file: URI, so that '?', '#' and '%' in the path are escaped.
	base := (&url.URL{Scheme: "file", Path: abs}).String()
	pragmas := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=query_only(1)", busyTimeout.Milliseconds())
	s, err := open(ctx, base+"?mode=ro&"+pragmas, storeDir)
	if err != nil && isPermission(err) {
		s, err = open(ctx, base+"?mode=ro&immutable=1&"+pragmas, storeDir)
	}
	if err != nil {
		return nil, fmt.Errorf("local store database %s: %w", abs, err)
	}
	return s, nil
}

func open(ctx context.Context, dsn, storeDir string) (*Store, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	// Check that this is a Nix database, and that it can be read.
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('ValidPaths', 'Refs')`).Scan(&n); err != nil {
		db.Close()
		return nil, err
	}
	if n != 2 {
		db.Close()
		return nil, errors.New("not a Nix database (no ValidPaths and Refs tables)")
	}
	return &Store{db: db, dir: storeDir}, nil
}

func isPermission(err error) bool {
	msg := err.Error()
	return errors.Is(err, os.ErrPermission) || strings.Contains(msg, "unable to open") ||
		strings.Contains(msg, "readonly") || strings.Contains(msg, "permission")
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Dir returns the store directory.
func (s *Store) Dir() string { return s.dir }

// Resolve turns a command-line argument into the store path it names, the
// way Nix does: symbolic links are followed until the path is inside the
// store directory (so ./result works), and a file inside a store path names
// that store path. It does not check validity; Closure does.
func (s *Store) Resolve(arg string) (string, error) {
	path, err := filepath.Abs(arg)
	if err != nil {
		return "", fmt.Errorf("%s: %w", arg, err)
	}
	for range 64 { // bounds symlink cycles, as the kernel's 40 does
		if strings.HasPrefix(path, s.dir+"/") {
			p, err := storepath.Containing(s.dir, path)
			if err != nil {
				return "", err
			}
			return p.String(), nil
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return "", fmt.Errorf("%s is not in the Nix store %s: %w", arg, s.dir, err)
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			return "", fmt.Errorf("%s is not in the Nix store %s", arg, s.dir)
		}
		target, err := os.Readlink(path)
		if err != nil {
			return "", fmt.Errorf("%s: %w", arg, err)
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		path = filepath.Clean(target)
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", arg)
}

// Closure returns the info of every path in the closure of roots (absolute
// store paths): the roots, their references, theirs, and so on, read in one
// snapshot of the database. The result is in topological order, every
// path after all of its references (self-references aside), with ties
// broken by path so that the order is deterministic. A root the store does
// not hold is an error wrapping ErrNotValid.
func (s *Store) Closure(ctx context.Context, roots []string) ([]*PathInfo, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("local store: %w", err)
	}
	defer tx.Rollback()

	byID := map[int64]*PathInfo{}
	var frontier []int64
	for _, r := range roots {
		id, err := lookup(ctx, tx, r)
		if err != nil {
			return nil, err
		}
		if _, ok := byID[id]; !ok {
			byID[id] = nil
			frontier = append(frontier, id)
		}
	}
	refs := map[int64][]int64{} // referrer → references, self-references dropped
	self := map[int64]bool{}    // paths that reference themselves
	refStmt, err := tx.PrepareContext(ctx, `SELECT reference FROM Refs WHERE referrer = ?`)
	if err != nil {
		return nil, fmt.Errorf("local store: %w", err)
	}
	defer refStmt.Close()
	infoStmt, err := tx.PrepareContext(ctx, `SELECT path, hash, registrationTime, deriver, narSize, sigs, ca FROM ValidPaths WHERE id = ?`)
	if err != nil {
		return nil, fmt.Errorf("local store: %w", err)
	}
	defer infoStmt.Close()

	for len(frontier) > 0 {
		id := frontier[len(frontier)-1]
		frontier = frontier[:len(frontier)-1]
		info, err := readInfo(ctx, infoStmt, id)
		if err != nil {
			return nil, err
		}
		byID[id] = info
		rows, err := refStmt.QueryContext(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("local store: references of %s: %w", info.Path, err)
		}
		var ids []int64
		for rows.Next() {
			var ref int64
			if err := rows.Scan(&ref); err != nil {
				rows.Close()
				return nil, fmt.Errorf("local store: references of %s: %w", info.Path, err)
			}
			ids = append(ids, ref)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("local store: references of %s: %w", info.Path, err)
		}
		for _, ref := range ids {
			if ref == id {
				self[id] = true
				continue
			}
			refs[id] = append(refs[id], ref)
			if _, seen := byID[ref]; !seen {
				byID[ref] = nil
				frontier = append(frontier, ref)
			}
		}
	}
	// Reference paths, now that every info is read.
	for id, info := range byID {
		for _, ref := range refs[id] {
			info.References = append(info.References, byID[ref].Path)
		}
		if self[id] {
			info.References = append(info.References, info.Path)
		}
		slices.Sort(info.References)
	}
	return topoSort(byID, refs)
}

func lookup(ctx context.Context, tx *sql.Tx, path string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM ValidPaths WHERE path = ?`, path).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%s: %w", path, ErrNotValid)
	}
	if err != nil {
		return 0, fmt.Errorf("local store: %s: %w", path, err)
	}
	return id, nil
}

func readInfo(ctx context.Context, stmt *sql.Stmt, id int64) (*PathInfo, error) {
	var (
		info              PathInfo
		hash              string
		regTime           int64
		deriver, sigs, ca sql.NullString
		narSize           sql.NullInt64
	)
	if err := stmt.QueryRowContext(ctx, id).Scan(&info.Path, &hash, &regTime, &deriver, &narSize, &sigs, &ca); err != nil {
		return nil, fmt.Errorf("local store: path %d: %w", id, err)
	}
	h, err := nixhash.ParseSHA256(hash)
	if err != nil {
		return nil, fmt.Errorf("local store: %s: NarHash: %w", info.Path, err)
	}
	info.NarHash = h.String()
	if !narSize.Valid || narSize.Int64 <= 0 {
		return nil, fmt.Errorf("local store: %s: no NarSize recorded (a very old database? run nix-store --verify)", info.Path)
	}
	info.NarSize = narSize.Int64
	info.Deriver = deriver.String
	if f := strings.Fields(sigs.String); len(f) > 0 {
		info.Sigs = f
	}
	info.CA = ca.String
	info.Registered = time.Unix(regTime, 0)
	return &info, nil
}

// topoSort orders the infos so that every path follows its references,
// choosing among the paths that are ready the smallest by path.
func topoSort(byID map[int64]*PathInfo, refs map[int64][]int64) ([]*PathInfo, error) {
	pending := make(map[int64]int, len(byID)) // id → references not yet emitted
	users := map[int64][]int64{}              // reference → referrers
	ready := &pathHeap{byID: byID}
	for id := range byID {
		pending[id] = len(refs[id])
		for _, ref := range refs[id] {
			users[ref] = append(users[ref], id)
		}
		if len(refs[id]) == 0 {
			ready.ids = append(ready.ids, id)
		}
	}
	heap.Init(ready)
	out := make([]*PathInfo, 0, len(byID))
	for ready.Len() > 0 {
		id := heap.Pop(ready).(int64)
		out = append(out, byID[id])
		for _, u := range users[id] {
			if pending[u]--; pending[u] == 0 {
				heap.Push(ready, u)
			}
		}
	}
	if len(out) != len(byID) {
		return nil, fmt.Errorf("local store: the references of %d paths form a cycle (the database is corrupt)", len(byID)-len(out))
	}
	return out, nil
}

// pathHeap is a min-heap of path ids ordered by path.
type pathHeap struct {
	ids  []int64
	byID map[int64]*PathInfo
}

func (h *pathHeap) Len() int           { return len(h.ids) }
func (h *pathHeap) Less(i, j int) bool { return h.byID[h.ids[i]].Path < h.byID[h.ids[j]].Path }
func (h *pathHeap) Swap(i, j int)      { h.ids[i], h.ids[j] = h.ids[j], h.ids[i] }
func (h *pathHeap) Push(x any)         { h.ids = append(h.ids, x.(int64)) }
func (h *pathHeap) Pop() any {
	x := h.ids[len(h.ids)-1]
	h.ids = h.ids[:len(h.ids)-1]
	return x
}
