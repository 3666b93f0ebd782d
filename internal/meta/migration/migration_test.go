package migration

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestLoad(t *testing.T) {
	ok := fstest.MapFS{
		"m/0002_b.sql": {Data: []byte("B")},
		"m/0001_a.sql": {Data: []byte("A")},
	}
	ms, err := Load(ok, "m/*.sql")
	if err != nil || len(ms) != 2 || ms[0].SQL != "A" || ms[1].Version != 2 || ms[1].Name != "0002_b.sql" {
		t.Fatalf("Load = %+v, %v", ms, err)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":       {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"misnamed":  {"m/1_a.sql": {}},
		"no number": {"m/abcd_a.sql": {}},
	} {
		if _, err := Load(fsys, "m/*.sql"); err == nil || !strings.Contains(err.Error(), "migration") {
			t.Errorf("%s: Load = %v, want an error naming the migration", name, err)
		}
	}
}

// TestProgress: upgrading a store's schema is announced, and each
// migration logged with its duration; a new store's first schema is not.
func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	defer slog.SetDefault(old)

	Progress("sqlite", 0, 14)(Migration{Name: "0001_init.sql"}, time.Second)
	Progress("sqlite", 14, 14)(Migration{Name: "0014_objects_rowid.sql"}, time.Second)
	if buf.Len() != 0 {
		t.Fatalf("a new or current schema logged:\n%s", &buf)
	}
	Progress("postgres", 8, 9)(Migration{Name: "0009_x.sql"}, 1500*time.Millisecond)
	out := buf.String()
	for _, want := range []string{"upgrading the metadata schema", "store=postgres from=8 to=9", "migration=0009_x.sql took=1.5s"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}
