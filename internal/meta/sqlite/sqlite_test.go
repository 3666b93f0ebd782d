package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/metatest"
)

func openTemp(t testing.TB) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "meta.db"))
}

// openAt opens the database at path until the test ends.
func openAt(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) (meta.Store, metatest.Reopen) {
		path := filepath.Join(t.TempDir(), "meta.db")
		open := func(t *testing.T) meta.Store { return openAt(t, path) }
		return open(t), open
	})
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	// Characters that mean something in a URI must stay part of the path.
	path := filepath.Join(t.TempDir(), "a dir?x=1#frag%20", "meta.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	when := time.Unix(1700000000, 5)
	obj := meta.Object{Bucket: "b", Key: "k", Size: 3, ETag: "e", Modified: when,
		Segments: []meta.Segment{{Blob: "blob1", Size: 3}}}
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "b", Created: when}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutObject(ctx, obj, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.PutAccessKey(ctx, meta.AccessKey{ID: "id", Secret: "s", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	s, err = Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, err := s.Object(ctx, "b", "k")
	if err != nil {
		t.Fatalf("Object after reopen: %v", err)
	}
	if got.ETag != "e" || !got.Modified.Equal(when) || !reflect.DeepEqual(got.Segments, obj.Segments) {
		t.Errorf("Object after reopen = %+v, want %+v", got, obj)
	}
	if k, err := s.AccessKey(ctx, "id"); err != nil || k.Secret != "s" || !k.Enabled {
		t.Errorf("AccessKey after reopen = %+v, %v", k, err)
	}
}

func schemaVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// openFromVersion makes a database of schema version (the first version
// migrations applied) holding what stmts write, then opens it with Open,
// which must migrate it to the current schema.
func openFromVersion(t *testing.T, version int, stmts ...string) *Store {
	t.Helper()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "meta.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:version] {
		if _, err := db.ExecContext(t.Context(), m.SQL); err != nil {
			t.Fatalf("migration %s: %v", m.Name, err)
		}
	}
	for _, q := range append([]string{fmt.Sprintf("PRAGMA user_version = %d", version)}, stmts...) {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	db.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if v := schemaVersion(t, path); v != len(ms) {
		t.Errorf("schema version %d after opening, want %d", v, len(ms))
	}
	return s
}

func TestMigrations(t *testing.T) {
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	path := filepath.Join(t.TempDir(), "meta.db")
	for i := range 3 { // applying them again is a no-op
		s, err := Open(path)
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		if err := s.CreateBucket(t.Context(), meta.Bucket{Name: strings.Repeat("b", i+1)}); err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		s.Close()
		if v := schemaVersion(t, path); v != len(ms) {
			t.Fatalf("open #%d: schema version %d, want %d", i+1, v, len(ms))
		}
	}

	// A database from a newer program is refused, not "migrated".
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := Open(path); err == nil {
		s.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
}

// TestMigrateFromV1 upgrades a database made by the first schema, with
// data in it: the data stays, and the identity tables work.
func TestMigrateFromV1(t *testing.T) {
	ctx := t.Context()
	s := openFromVersion(t, 1,
		"INSERT INTO buckets (name, created) VALUES ('old', 1)",
		"INSERT INTO access_keys VALUES ('K', 's', 'root', 1, 1)")
	if k, err := s.AccessKey(ctx, "K"); err != nil || k.User != "root" {
		t.Errorf("AccessKey after migrating = %+v, %v", k, err)
	}
	if err := s.SetBucketPolicy(ctx, "old", []byte("{}")); err != nil {
		t.Errorf("SetBucketPolicy on an old bucket: %v", err)
	}
	if err := s.CreateUser(ctx, meta.User{Name: "alice"}); err != nil {
		t.Errorf("CreateUser: %v", err)
	}
}

func TestPragmas(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	for _, c := range []struct {
		db     *sql.DB
		pragma string
		want   string
	}{
		{s.w.db, "journal_mode", "wal"},
		{s.w.db, "synchronous", "2"},
		{s.w.db, "foreign_keys", "1"},
		{s.r.db, "journal_mode", "wal"},
		{s.r.db, "query_only", "1"},
	} {
		var got string
		if err := c.db.QueryRowContext(ctx, "PRAGMA "+c.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("PRAGMA %s = %q, want %q", c.pragma, got, c.want)
		}
	}
	if _, err := s.r.db.ExecContext(ctx, "INSERT INTO buckets VALUES ('x', 0)"); err == nil {
		t.Error("the read pool accepted a write")
	}
}

// TestReadsDoNotWaitForWriter holds the write transaction open and reads.
func TestReadsDoNotWaitForWriter(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	obj := meta.Object{Bucket: "b", Key: "k", ETag: "e", Segments: []meta.Segment{{Blob: "x", Size: 1}}}
	if _, err := s.PutObject(ctx, obj, nil); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := s.DeleteObject(ctx, "b", "k", func(*meta.Object) error {
			close(entered)
			<-release
			return nil
		})
		done <- err
	}()
	<-entered
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err := s.Object(rctx, "b", "k") // sees the committed state
	cancel()
	close(release)
	if err != nil {
		t.Fatalf("Object during a write transaction: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := s.Object(ctx, "b", "k"); !errors.Is(err, meta.ErrNoSuchKey) {
		t.Fatalf("Object after the delete: %v, want ErrNoSuchKey", err)
	}
}

// TestQueryPlans guards the indexes the hot paths rely on.
func TestQueryPlans(t *testing.T) {
	s := openTemp(t)
	for _, c := range []struct {
		name, query string
		args        []any
	}{
		{"Object", qObject, []any{"b", "k"}},
		{"ScanObjects", qScanObjects, []any{"b", "a", "b", 10}},
		{"ScanUploads", qScanUploads, []any{"b", "a", "b", "a", "", 10}},
		{"Referenced", qReferenced, []any{"x"}},
		{"User", qUser, []any{"u"}},
		{"Token", qToken, []any{"t"}},
		{"BucketPolicy", qBucketPolicy, []any{"b"}},
		{"Setting", qSetting, []any{"s"}},
		{"DeleteUser keys", qDeleteUserKeys, []any{"u"}},
		{"DeleteUser tokens", qDeleteUserTokens, []any{"u"}},
		{"Narinfo", qNarinfo, []any{"b", "h"}},
		{"PutObject unindex", qDeleteNarinfo, []any{"b", "h"}},
		{"TouchNarinfos", qTouchNarinfo, []any{1, "b", "h"}},
		{"CacheStats", qCacheStats, []any{"b"}},
		{"CacheSettings", qCacheSettings, []any{"b"}},
		{"SigningKeys", qSigningKeys, []any{"b"}},
		{"DeleteBucket narinfos", qDeleteBucketNarinfos, []any{"b"}},
		{"DeleteBucket keys", qDeleteBucketSigKeys, []any{"b"}},
	} {
		plan := queryPlan(t, s, c.query, c.args...)
		if c.name == "CacheStats" && !slices.ContainsFunc(plan, func(step string) bool {
			return strings.Contains(step, "COVERING INDEX narinfos_sizes")
		}) {
			t.Errorf("CacheStats: plan %q does not use the covering index", plan)
		}
		for _, step := range plan {
			if (strings.HasPrefix(step, "SCAN") && step != "SCAN CONSTANT ROW") || strings.Contains(step, "TEMP B-TREE") {
				t.Errorf("%s: plan has a full scan or sort: %q", c.name, plan)
			}
		}
	}
}

// queryPlan returns the steps of q's plan on the read pool, as EXPLAIN
// QUERY PLAN details them.
func queryPlan(t *testing.T, s *Store, q string, args ...any) []string {
	t.Helper()
	rows, err := s.r.db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

func TestPrefixEnd(t *testing.T) {
	for _, c := range []struct {
		prefix, end string
		ok          bool
	}{
		{"", "", false},
		{"a", "b", true},
		{"a/", "a0", true},
		{"a\xff", "b", true},
		{"\xff\xff", "", false},
		{"日", "日"[:2] + "\xa6", true},
	} {
		end, ok := prefixEnd(c.prefix)
		if end != c.end || ok != c.ok {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q, %v", c.prefix, end, ok, c.end, c.ok)
		}
	}
}

// TestKilled kills a process in the middle of writing and checks that
// every write it had acknowledged is there after reopening.
func TestKilled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	cmd := child(t, "killed-writer", "NIXBUCKET_META_KILL="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 200 {
		if key, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
			acked = append(acked, key)
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if len(acked) < 200 {
		t.Fatalf("writer acknowledged only %d writes", len(acked))
	}

	s, err := Open(path)
	if err != nil {
		t.Fatalf("open after kill: %v", err)
	}
	defer s.Close()
	for _, key := range acked {
		obj, err := s.Object(t.Context(), "b", key)
		if err != nil {
			t.Fatalf("acknowledged %q: %v", key, err)
		}
		if len(obj.Segments) != 1 || obj.Segments[0].Blob != "blob-"+key {
			t.Fatalf("acknowledged %q: %+v", key, obj)
		}
	}
}
