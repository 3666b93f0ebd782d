package sqlite

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/metaenc"
)

// bigRefs is a references list of n made-up paths, about 45 bytes each.
func bigRefs(n int) []string {
	refs := make([]string, n)
	for i := range refs {
		refs[i] = fmt.Sprintf("%032d-ref-%d", i, i)
	}
	return refs
}

// TestMigrateNarinfosRowid upgrades a database of schema 12, whose narinfos
// table kept whole rows in its key's b-tree (WITHOUT ROWID), to one whose
// key is an index of its own: every record, a 1 MB one among them, is
// read back whole, and the table has rowids now.
func TestMigrateNarinfosRowid(t *testing.T) {
	ctx := t.Context()
	stmts := []string{"INSERT INTO buckets (name, created) VALUES ('b', 1)"}
	refsOf := map[string][]string{}
	for i := range 50 {
		hash := fmt.Sprintf("%032d", i)
		refsOf[hash] = bigRefs(3)
		if i == 7 {
			refsOf[hash] = bigRefs(22000)
		}
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO narinfos (bucket, hash, `+narinfoCols+`)
			VALUES ('b', '%s', 5, 10, 1, 1, '/nix/store/%[1]s-p', 'nar/x.nar', 'none', '', '', '', '', x'%x', x'%x')`,
			hash, metaenc.EncodeStrings(refsOf[hash]), metaenc.EncodeStrings(nil)))
	}
	s := openFromVersion(t, 12, stmts...)
	for hash, want := range refsOf {
		n, err := s.Narinfo(ctx, "b", hash)
		if err != nil {
			t.Fatalf("Narinfo(%s): %v", hash, err)
		}
		if strings.Join(n.References, " ") != strings.Join(want, " ") || n.StorePath != "/nix/store/"+hash+"-p" || n.NarSize != 10 {
			t.Errorf("Narinfo(%s) after migrating: %d references, %q, NarSize %d", hash, len(n.References), n.StorePath, n.NarSize)
		}
	}
	var rowid int64
	if err := s.w.db.QueryRowContext(ctx, "SELECT rowid FROM narinfos LIMIT 1").Scan(&rowid); err != nil {
		t.Errorf("narinfos has no rowid after migrating: %v", err)
	}
	var indexes int
	if err := s.w.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'index'
		AND tbl_name = 'narinfos' AND name IN ('narinfos_sizes', 'narinfos_name', 'narinfos_created')`).Scan(&indexes); err != nil || indexes != 3 {
		t.Errorf("narinfos has %d of its 3 indexes after migrating (%v)", indexes, err)
	}
	if _, err := s.Narinfo(ctx, "b", strings.Repeat("9", 32)); !errors.Is(err, meta.ErrNoSuchKey) {
		t.Errorf("Narinfo(absent) = %v, want ErrNoSuchKey", err)
	}
}

// BenchmarkNarinfoMissAmongBigRows looks up absent hashes in a bucket whose
// records carry thousands of references each (as TeX Live's do): the
// lookup reads the key index only, not the rows it passes.
func BenchmarkNarinfoMissAmongBigRows(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "meta.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "b"}); err != nil {
		b.Fatal(err)
	}
	for i := range 200 {
		hash := fmt.Sprintf("%032d", i*2)
		rec := &meta.Narinfo{Hash: hash, StorePath: "/nix/store/" + hash + "-texlive", URL: "nar/x.nar", NarSize: 10, FileSize: 5, References: bigRefs(3000)}
		if _, err := s.PutObject(ctx, narinfoObj(hash, fmt.Sprintf("blob%d", i), rec), nil); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		if _, err := s.Narinfo(ctx, "b", fmt.Sprintf("%032d", (i%200)*2+1)); err == nil {
			b.Fatal("an absent hash was found")
		}
		i++
	}
}
