package localstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// schema is the Nix database schema (Nix 2.x, schema version 10), as
// Debian's Nix 2.8 creates it.
const schema = `
CREATE TABLE ValidPaths (
    id               integer primary key autoincrement not null,
    path             text unique not null,
    hash             text not null,
    registrationTime integer not null,
    deriver          text,
    narSize          integer,
    ultimate         integer,
    sigs             text,
    ca               text
);
CREATE TABLE Refs (
    referrer  integer not null,
    reference integer not null,
    primary key (referrer, reference),
    foreign key (referrer) references ValidPaths(id) on delete cascade,
    foreign key (reference) references ValidPaths(id) on delete restrict
);
CREATE INDEX IndexReferrer on Refs(referrer);
CREATE INDEX IndexReference on Refs(reference);
CREATE TABLE DerivationOutputs (
    drv  integer not null,
    id   text not null,
    path text not null,
    primary key (drv, id),
    foreign key (drv) references ValidPaths(id) on delete cascade
);
`

// fakePath is one row of a synthetic store.
type fakePath struct {
	base    string   // <hash>-<name>
	refs    []string // bases
	deriver string
	sigs    string
	ca      string
}

const (
	hashHex   = "sha256:91e61c8416af5d441b668a17030a97cb7d0efd52629af388c54b52bdc7b8c584"
	hashNix32 = "sha256:1165p33vsljbqn4g76k2abyhwzfbjw5065wacqdl8pdg2s21rrli" // nix-hash --to-base32
)

// fakeDB writes a Nix database holding paths under /nix/store, in WAL mode
// as Nix keeps it, and returns its file name.
func fakeDB(t *testing.T, paths []fakePath) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "db.sqlite")
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("PRAGMA journal_mode=WAL;" + schema); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, p := range paths {
		var deriver, sigs, ca any
		if p.deriver != "" {
			deriver = "/nix/store/" + p.deriver
		}
		if p.sigs != "" {
			sigs = p.sigs
		}
		if p.ca != "" {
			ca = p.ca
		}
		r, err := db.Exec(`INSERT INTO ValidPaths (path, hash, registrationTime, deriver, narSize, ultimate, sigs, ca) VALUES (?, ?, 1700000000, ?, 1234, 1, ?, ?)`,
			"/nix/store/"+p.base, hashHex, deriver, sigs, ca)
		if err != nil {
			t.Fatal(err)
		}
		ids[p.base], _ = r.LastInsertId()
	}
	for _, p := range paths {
		for _, ref := range p.refs {
			if _, err := db.Exec(`INSERT INTO Refs VALUES (?, ?)`, ids[p.base], ids[ref]); err != nil {
				t.Fatal(err)
			}
		}
	}
	return file
}

const (
	a = "00000000000000000000000000000000-a"
	b = "11111111111111111111111111111111-b"
	c = "22222222222222222222222222222222-c"
	d = "33333333333333333333333333333333-d"
	e = "44444444444444444444444444444444-e"
)

func TestClosure(t *testing.T) {
	// e → d → {b, c}; c → a; b → a; c → c (self); a is also in e's refs.
	db := fakeDB(t, []fakePath{
		{base: e, refs: []string{d, a}},
		{base: d, refs: []string{b, c}, deriver: "55555555555555555555555555555555-d.drv"},
		{base: c, refs: []string{a, c}, sigs: "k1:sig1 k2:sig2"},
		{base: b, refs: []string{a}, ca: "fixed:r:sha256:1g5xj4a7q2ws28kx9f6zai30ab1cxh9kfg1qfbbc8b4ygaxjnqrj"},
		{base: a},
	})
	ctx := context.Background()
	s, err := Open(ctx, db, DefaultStoreDir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := []struct {
		roots []string
		want  []string
	}{
		{[]string{e}, []string{a, b, c, d, e}},
		{[]string{c}, []string{a, c}},
		{[]string{b, c, b}, []string{a, b, c}},
		{[]string{a}, []string{a}},
	}
	for _, tt := range tests {
		var roots []string
		for _, r := range tt.roots {
			roots = append(roots, "/nix/store/"+r)
		}
		infos, err := s.Closure(ctx, roots)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, i := range infos {
			got = append(got, strings.TrimPrefix(i.Path, "/nix/store/"))
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Closure(%v) = %v, want %v", tt.roots, got, tt.want)
		}
	}

	infos, err := s.Closure(ctx, []string{"/nix/store/" + d})
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]*PathInfo{}
	for _, i := range infos {
		byPath[strings.TrimPrefix(i.Path, "/nix/store/")] = i
	}
	wantRefs := map[string][]string{a: nil, b: {a}, c: {a, c}, d: {b, c}}
	for base, refs := range wantRefs {
		var want []string
		for _, r := range refs {
			want = append(want, "/nix/store/"+r)
		}
		if got := byPath[base].References; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: References %v, want %v", base, got, want)
		}
	}
	if got := byPath[d].Deriver; got != "/nix/store/55555555555555555555555555555555-d.drv" {
		t.Errorf("Deriver = %q", got)
	}
	if got := byPath[c].Sigs; !reflect.DeepEqual(got, []string{"k1:sig1", "k2:sig2"}) {
		t.Errorf("Sigs = %q", got)
	}
	if got := byPath[b].CA; !strings.HasPrefix(got, "fixed:r:sha256:") {
		t.Errorf("CA = %q", got)
	}
	if i := byPath[a]; i.NarHash != hashNix32 || i.NarSize != 1234 || i.Registered.Unix() != 1700000000 || i.Deriver != "" || i.Sigs != nil {
		t.Errorf("a: %+v", i)
	}
}

func TestClosureNotValid(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, fakeDB(t, []fakePath{{base: a}}), DefaultStoreDir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Closure(ctx, []string{"/nix/store/" + a, "/nix/store/" + b})
	if !errors.Is(err, ErrNotValid) || !strings.Contains(err.Error(), b) {
		t.Errorf("Closure of a missing path: %v, want ErrNotValid naming it", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Open(ctx, filepath.Join(dir, "missing.sqlite"), DefaultStoreDir); err == nil || !strings.Contains(err.Error(), "--db") {
		t.Errorf("Open(missing): %v, want an error suggesting --db", err)
	}
	other := filepath.Join(dir, "other.sqlite")
	db, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE x (y)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(ctx, other, DefaultStoreDir); err == nil || !strings.Contains(err.Error(), "not a Nix database") {
		t.Errorf("Open(other database): %v", err)
	}
	if _, err := Open(ctx, other, "relative"); err == nil {
		t.Error("Open with a relative store dir: no error")
	}
}

// TestOpenReadOnly checks that Open neither writes the database nor needs
// to: it works on a read-only copy in a read-only directory, opened by a
// user who may not write there. Root ignores file modes, so as root the
// check runs in a child process as the unprivileged user nobody.
func TestOpenReadOnly(t *testing.T) {
	file := fakeDB(t, []fakePath{{base: a}})
	if os.Getuid() != 0 {
		dir := filepath.Dir(file)
		if err := os.Chmod(file, 0o444); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		if err := openReadOnly(file); err != nil {
			t.Fatal(err)
		}
		return
	}
	runAsNobody(t, file)
}

// openReadOnly opens the database in file and reads a closure from it.
func openReadOnly(file string) error {
	ctx := context.Background()
	s, err := Open(ctx, file, DefaultStoreDir)
	if err != nil {
		return err
	}
	defer s.Close()
	if f, err := os.Create(filepath.Join(filepath.Dir(file), "probe")); err == nil {
		f.Close()
		return fmt.Errorf("could create a file beside the database: the check does not run read-only")
	}
	_, err = s.Closure(ctx, []string{"/nix/store/" + a})
	return err
}

func TestResolve(t *testing.T) {
	root := t.TempDir()
	store := filepath.Join(root, "store")
	sp := filepath.Join(store, a)
	if err := os.MkdirAll(filepath.Join(sp, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := func(target, name string) string {
		p := filepath.Join(root, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	result := link(sp, "result")
	link("result", "result2") // relative, to another link
	link(filepath.Join(sp, "bin"), "bin")
	link("loop", "loop")
	if err := os.WriteFile(filepath.Join(root, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Store{dir: store}
	tests := []struct {
		arg, want, err string
	}{
		{sp, sp, ""},
		{sp + "/", sp, ""},
		{result, sp, ""},
		{filepath.Join(root, "result2"), sp, ""},
		{filepath.Join(root, "bin"), sp, ""},
		{filepath.Join(sp, "bin", "tool"), sp, ""},
		{filepath.Join(root, "file"), "", "not in the Nix store"},
		{filepath.Join(root, "nothing"), "", "not in the Nix store"},
		{filepath.Join(root, "loop"), "", "too many levels"},
		{filepath.Join(store, "not-a-store-path"), "", "not <hash>-<name>"},
	}
	for _, tt := range tests {
		got, err := s.Resolve(tt.arg)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Resolve(%s) = %q, %v; want error %q", tt.arg, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Resolve(%s) = %q, %v; want %q", tt.arg, got, err, tt.want)
		}
	}
	// Relative arguments are taken from the working directory.
	t.Chdir(root)
	if got, err := s.Resolve("./result"); err != nil || got != sp {
		t.Errorf("Resolve(./result) = %q, %v; want %q", got, err, sp)
	}
}
