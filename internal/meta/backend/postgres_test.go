package backend

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/postgres"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

// TestPostgresURL: a postgres:// or postgresql:// URL opens the
// PostgreSQL store, whatever the data directory; OpenExisting refuses a
// database without the store's schema; the store is shared.
func TestPostgresURL(t *testing.T) {
	url := testenv.Postgres(t)
	data := t.TempDir()
	if _, err := OpenExisting(data, url); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenExisting of an empty database: %v, want fs.ErrNotExist", err)
	}
	for _, u := range []string{url, "postgresql://" + strings.TrimPrefix(url, "postgres://")} {
		s, err := Open(data, u)
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if _, ok := s.(*postgres.Store); !ok {
			t.Errorf("Open(%q) is a %T", u, s)
		}
		if !SharedObjects(s) {
			t.Error("SharedObjects of a PostgreSQL store: false, want true")
		}
		s.Close()
	}
	if _, err := os.Stat(data + "/meta.db"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("meta.db in the data directory: %v", err)
	}
	s, err := OpenExisting(data, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateBucket(t.Context(), meta.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
}

// TestUnknownURL: a URL of no known store is refused, its password not
// repeated.
func TestUnknownURL(t *testing.T) {
	for _, open := range []func(string, string) (meta.Store, error){Open, OpenExisting} {
		_, err := open(t.TempDir(), "mysql://u:hunter2@host/db")
		if err == nil {
			t.Fatal("a mysql:// URL opened")
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error repeats the password: %v", err)
		}
	}
}
