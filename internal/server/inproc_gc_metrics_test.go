package server_test

import (
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// TestGCMetricsCountAux: the objects a collection removes, in the metrics
// and the server's log, include the debuginfo entries and realisations it
// removed, as its bytes do; the bucket's gauges show the removal at once.
func TestGCMetricsCountAux(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("gcaux")
	body := []byte(`{"archive":"../nar/gone.nar.xz","member":"lib/debug/.build-id/ab/cd.debug"}`)
	e.put(b, "debuginfo/abcdef0123456789abcdef0123456789abcdef01.debug", body)
	if err := e.srv.Meta().SetRetention(ctx(t), b, meta.Retention{Grace: time.Nanosecond}); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.RefreshUsage(ctx(t)); err != nil {
		t.Fatal(err)
	}
	before := e.scrape()
	objects := `nixbucket_bucket_objects{bucket="` + b + `"}`
	if before[objects] != 1 {
		t.Fatalf("%s = %v before the collection, want 1", objects, before[objects])
	}
	rep, err := e.srv.CollectGarbage(ctx(t), b, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total().Aux != 1 {
		t.Fatalf("gc removed %+v, want the orphan debuginfo entry", rep.Total())
	}
	after := e.scrape()
	for name, want := range map[string]float64{
		"nixbucket_gc_removed_objects_total": 1,
		"nixbucket_gc_removed_bytes_total":   float64(len(body)),
	} {
		if got := after[name] - before[name]; got != want {
			t.Errorf("%s moved by %v, want %v", name, got, want)
		}
	}
	// The bucket's gauges show what is left at once, not a minute later.
	if after[objects] != 0 {
		t.Errorf("%s = %v after the collection removed the bucket's one object, want 0", objects, after[objects])
	}
}
