package postgres

import (
	"os"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/metatest"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopPostgres()
	os.Exit(code)
}

// openAt opens the store at url until the test ends.
func openAt(t testing.TB, url string) *Store {
	t.Helper()
	s, err := Open(t.Context(), url)
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
		url := testenv.Postgres(t)
		open := func(t *testing.T) meta.Store { return openAt(t, url) }
		return open(t), open
	})
}
