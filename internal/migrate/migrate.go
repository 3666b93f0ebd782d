// Package migrate copies a nixbucket install from one pair of stores to
// another: everything its metadata store holds (settings, users, access
// keys, tokens, buckets with their policies, nix-cache-info settings,
// retention, lifecycle rules, signing keys and pins, the console's
// traffic counters, objects with the narinfo index, multipart uploads in
// progress with their parts) and the blobs its objects and parts are made
// of. `nixbucket migrate` runs it from an embedded data directory (SQLite
// and local blobs) to PostgreSQL and an S3 store, but it only speaks the
// meta.Store and storage.Backend interfaces, so it copies from any store
// to any store.
//
// # Faithful copies
//
// Records are copied with their own IDs, secrets and times: access keys
// and tokens keep working, uploads keep their IDs (a client resuming one
// goes on) and their initiation times (lifecycle rules still abort them
// on time), narinfo records keep their creation and last-access times
// (retention still judges them alike). Blobs keep their IDs too, through
// storage.Placer, so object and part records are copied unchanged and
// name blobs that exist in the destination.
//
// # Idempotent and resumable
//
// Every record is compared with the destination's before it is written,
// and only what is missing or different is written, so a second run
// copies nothing and says so. Every blob is looked up in the destination
// on every run (a HEAD on S3), so one deleted there since comes back. A blob is copied before the record that
// names it, and an object or part record is written only once its blobs
// are committed: a run killed at any point leaves complete records and
// at worst unreferenced blobs (which the next run finds and keeps, or
// the server's sweeper removes), and the next run finishes the copy.
//
// The destination must be empty when a first run starts, or filled by an
// earlier run from the same source (meta.SettingMigrateSource): migrate
// never merges two installs. While it runs, and until a run has verified
// the copy, the destination carries meta.SettingMigrating, and a server
// refuses to start on it.
//
// # Verified
//
// The copy ends with a check of the destination against the source:
// the same objects in every bucket (counted on both sides, each one
// compared), the same narinfo index totals, uploads, parts, pins,
// signing keys and identities, and every blob present with its size and
// (Hashes) the same SHA-256 as the source's. A difference fails the run
// (ErrMismatch). Blobs are streamed, never held in memory.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/storage"
)

// ErrMismatch is returned (wrapped) when the destination, after copying,
// does not hold what the source holds.
var ErrMismatch = errors.New("the destination differs from the source")

// ErrConflict is returned (wrapped) when the destination holds a record
// under the same name or ID as the source's, with other contents that
// migrate cannot overwrite (an access key's secret, a token's hash, a
// signing key's secret), or holds data of another install.
var ErrConflict = errors.New("the destination holds other data")

// Stores are one side of a migration.
type Stores struct {
	Meta  meta.Store
	Blobs storage.Backend
}

// Copier copies From to To. Set the fields, then call Run.
type Copier struct {
	From Stores
	// To.Blobs nil means the destination keeps using From.Blobs: only
	// metadata is copied, and verifying checks that every blob is there.
	// Otherwise To.Blobs must be a storage.Placer. To.Meta nil means the
	// source keeps its metadata and only the blobs its records name are
	// copied (see runBlobs).
	To Stores
	// Source names the source in the destination's SettingMigrating and in
	// messages, e.g. "data directory /var/lib/nixbucket".
	Source string
	// Settings are server-wide settings the destination gets instead of
	// the source's (the blob store its servers use, when the blobs move).
	Settings map[string]string
	// Delete also removes from the destination what the source no
	// longer holds (see prune): what a GC, a revocation or a completed
	// upload removed there after an earlier run. It would remove what
	// servers on the destination wrote too.
	Delete bool
	// Jobs is how many objects are copied, and verified, at once; zero
	// means 4.
	Jobs int
	// Hashes makes verifying compare the SHA-256 of every blob in both
	// blob stores, which reads every blob once more on each side; without
	// it, blobs are checked for presence and size.
	Hashes bool
	// Progress receives a line as each phase starts and then counts about
	// every ProgressEvery (zero: a second); nil discards them.
	Progress      io.Writer
	ProgressEvery time.Duration

	placer storage.Placer // To.Blobs, or nil when blobs stay in From.Blobs
	tally  tally
	prog   progress
}

// Report says what a run did.
type Report struct {
	// Copied counts what this run wrote to the destination, Present what
	// it found there already, by kind ("objects", "blobs", "blob bytes",
	// …; see Kinds).
	Copied, Present map[string]int64
	// Verified counts what the final check compared.
	Verified Verified
}

// Verified counts what verifying compared.
type Verified struct {
	Buckets, Objects, Uploads, Parts int64
	Blobs, BlobBytes                 int64 // blobs checked, and their bytes
	Hashed                           bool  // blobs were compared by SHA-256
	Differences                      int64 // what differed (the run's ErrMismatch lists them)
}

// Kinds are the kinds of records a Report counts, in the order a migration
// copies them.
var Kinds = []string{
	"settings", "users", "access keys", "tokens", "buckets", "bucket settings", "signing keys",
	"objects", "narinfos", "uploads", "parts", "pins", "traffic hours", "blobs", "blob bytes", "removed",
}

// Nothing reports whether the run found everything already copied.
func (r *Report) Nothing() bool {
	for _, n := range r.Copied {
		if n > 0 {
			return false
		}
	}
	return true
}

// String is the report's summary, a few lines for a person.
func (r *Report) String() string {
	var b strings.Builder
	if r.Nothing() {
		fmt.Fprintf(&b, "nothing new to copy: the destination already held everything (%s)\n", counts(r.Present))
	} else {
		fmt.Fprintf(&b, "copied: %s\n", counts(r.Copied))
		if p := counts(r.Present); p != "nothing" {
			fmt.Fprintf(&b, "already there: %s\n", p)
		}
	}
	v := r.Verified
	if v.Differences > 0 {
		// Not "verified": the run failed its check, and a summary saying
		// every blob matched would contradict the error printed after it.
		how := "by size"
		if v.Hashed {
			how = "by size and SHA-256"
		}
		fmt.Fprintf(&b, "compared: %d buckets, %d objects, %d uploads with %d parts; %d blobs (%s) %s: %d differences\n",
			v.Buckets, v.Objects, v.Uploads, v.Parts, v.Blobs, humanBytes(v.BlobBytes), how, v.Differences)
		return b.String()
	}
	how := "present with their sizes"
	if v.Hashed {
		how = "with the same SHA-256"
	}
	fmt.Fprintf(&b, "verified: %d buckets, %d objects, %d uploads with %d parts; %d blobs (%s) %s\n",
		v.Buckets, v.Objects, v.Uploads, v.Parts, v.Blobs, humanBytes(v.BlobBytes), how)
	return b.String()
}

// counts lists the non-zero counts of m in Kinds order.
func counts(m map[string]int64) string {
	var parts []string
	for _, k := range Kinds {
		n := m[k]
		if n == 0 {
			continue
		}
		if k == "blob bytes" {
			parts = append(parts, humanBytes(n))
			continue
		}
		parts = append(parts, fmt.Sprintf("%d %s", n, k))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// humanBytes formats n bytes with a binary unit.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// Run copies, then verifies. It returns the report of what it did, also
// with an error when it got as far as verifying.
func (c *Copier) Run(ctx context.Context) (*Report, error) {
	if c.From.Meta == nil || c.From.Blobs == nil || (c.To.Meta == nil && c.To.Blobs == nil) {
		return nil, errors.New("migrate: the source's metadata and blob stores and a destination metadata or blob store are needed")
	}
	if c.To.Blobs != nil {
		p, ok := c.To.Blobs.(storage.Placer)
		if !ok {
			return nil, fmt.Errorf("migrate: the destination blob store (%T) cannot create blobs under their IDs", c.To.Blobs)
		}
		c.placer = p
	}
	if c.Jobs <= 0 {
		c.Jobs = 4
	}
	c.tally = tally{copied: map[string]int64{}, present: map[string]int64{}}
	c.prog = progress{w: c.Progress, every: c.ProgressEvery}
	if c.prog.every <= 0 {
		c.prog.every = time.Second
	}
	if c.To.Meta == nil {
		return c.runBlobs(ctx)
	}
	if err := c.claim(ctx); err != nil {
		return nil, err
	}
	phases := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"settings", c.copySettings},
		{"users, access keys and tokens", c.copyIdentities},
		{"buckets and their settings", c.copyBuckets},
		{"objects", c.copyAllObjects},
		{"multipart uploads", c.copyAllUploads},
		{"pins", c.copyAllPins},
		{"traffic counters", c.copyTraffic},
	}
	if c.Delete {
		phases = append(phases, struct {
			name string
			fn   func(context.Context) error
		}{"removing what the source no longer holds", c.prune})
	}
	for _, p := range phases {
		c.prog.linef("%s", p.name)
		if err := p.fn(ctx); err != nil {
			return nil, err
		}
	}
	rep := &Report{}
	rep.Copied, rep.Present = c.tally.snapshot()
	c.prog.linef("verifying the copy")
	v, err := c.verify(ctx)
	rep.Verified = v
	if err != nil {
		return rep, err
	}
	if err := c.To.Meta.SetSetting(ctx, meta.SettingMigrating, ""); err != nil {
		return rep, fmt.Errorf("migrate: marking the copy finished: %w", err)
	}
	return rep, nil
}

// claim makes sure the destination is empty or was filled from this same
// source, and marks it as being filled.
func (c *Copier) claim(ctx context.Context) error {
	id, err := c.sourceID(ctx)
	if err != nil {
		return err
	}
	have, err := c.To.Meta.Setting(ctx, meta.SettingMigrateSource)
	if err != nil {
		return fmt.Errorf("migrate: reading the destination: %w", err)
	}
	switch {
	case have == id:
		served, err := c.To.Meta.Setting(ctx, meta.SettingMigrateServed)
		if err != nil {
			return fmt.Errorf("migrate: reading the destination: %w", err)
		}
		if served != "" {
			return fmt.Errorf("migrate: servers have run on the destination since %s, so it holds writes of its own, which copying again would overwrite (and --delete remove): the copy is final; to start over, migrate into an empty database: %w", served, ErrConflict)
		}
	case have != "":
		return fmt.Errorf("migrate: the destination was filled by a migration from another install (admin key %s, not %s): %w", have, id, ErrConflict)
	default:
		what, err := c.destContents(ctx)
		if err != nil {
			return err
		}
		if what != "" {
			return fmt.Errorf("migrate: the destination metadata store already holds %s that no migration from %s put there (did a server start on it first?); migrate into an empty database: %w", what, c.Source, ErrConflict)
		}
		// Marked as being filled first: a server must never start on a
		// store that names a source but holds none of it yet.
		if err := c.markMigrating(ctx); err != nil {
			return err
		}
		if err := c.To.Meta.SetSetting(ctx, meta.SettingMigrateSource, id); err != nil {
			return fmt.Errorf("migrate: marking the destination: %w", err)
		}
	}
	return c.markMigrating(ctx)
}

// markMigrating marks the destination as being filled (SettingMigrating).
func (c *Copier) markMigrating(ctx context.Context) error {
	mark := fmt.Sprintf("from %s, started %s", c.Source, time.Now().UTC().Format(time.RFC3339))
	if err := c.To.Meta.SetSetting(ctx, meta.SettingMigrating, mark); err != nil {
		return fmt.Errorf("migrate: marking the destination: %w", err)
	}
	return nil
}

// sourceID names the source install: the ID of its administrator's first
// access key, made at its first start and never changed; Source for a
// store without one.
func (c *Copier) sourceID(ctx context.Context) (string, error) {
	keys, err := c.From.Meta.AccessKeys(ctx)
	if err != nil {
		return "", fmt.Errorf("migrate: reading the source's access keys: %w", err)
	}
	for _, k := range keys { // sorted by ID
		if k.User == rootUser {
			return k.ID, nil
		}
	}
	if c.Source == "" {
		return "", errors.New("migrate: the source has no administrator key, and no name")
	}
	return c.Source, nil
}

// rootUser is the administrator's user name in access keys (access.RootUser).
const rootUser = "root"

// destContents describes what the destination holds, "" for nothing.
func (c *Copier) destContents(ctx context.Context) (string, error) {
	bs, err := c.To.Meta.Buckets(ctx)
	if err != nil {
		return "", fmt.Errorf("migrate: reading the destination: %w", err)
	}
	us, err := c.To.Meta.Users(ctx)
	if err != nil {
		return "", fmt.Errorf("migrate: reading the destination: %w", err)
	}
	ks, err := c.To.Meta.AccessKeys(ctx)
	if err != nil {
		return "", fmt.Errorf("migrate: reading the destination: %w", err)
	}
	if len(bs)+len(us)+len(ks) == 0 {
		return "", nil
	}
	return fmt.Sprintf("%d buckets, %d users and %d access keys", len(bs), len(us), len(ks)), nil
}

// tally counts what a run copied and found.
type tally struct {
	mu              sync.Mutex
	copied, present map[string]int64
}

// add counts n records of kind, as copied or as found present.
func (t *tally) add(copied bool, kind string, n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if copied {
		t.copied[kind] += n
	} else {
		t.present[kind] += n
	}
}

func (t *tally) get(copied bool, kind string) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if copied {
		return t.copied[kind]
	}
	return t.present[kind]
}

func (t *tally) snapshot() (copied, present map[string]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	copied, present = map[string]int64{}, map[string]int64{}
	for k, v := range t.copied {
		copied[k] = v
	}
	for k, v := range t.present {
		present[k] = v
	}
	return copied, present
}

// progress writes progress lines: one as each phase starts (linef), and
// the phase's status line about every interval while it runs (tick).
type progress struct {
	w      io.Writer
	every  time.Duration
	mu     sync.Mutex
	last   time.Time
	status func() string
}

// linef writes a line at once.
func (p *progress) linef(format string, a ...any) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = time.Now()
	fmt.Fprintf(p.w, "migrate: "+format+"\n", a...)
}

// setStatus sets the line tick writes; nil for none.
func (p *progress) setStatus(status func() string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status = status
}

// tick writes the status line when the last line is older than every.
// It is called as records are done and as blob bytes stream, so that a
// large blob's copy shows progress too.
func (p *progress) tick() {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status == nil || time.Since(p.last) < p.every {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "migrate: %s\n", p.status())
}
