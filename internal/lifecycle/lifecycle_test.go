package lifecycle

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/sqlite"
)

func TestHoldsNix(t *testing.T) {
	const hash = "0c9glqcqcmasc3ppv1w2wyzv1wdv9n9s"
	for _, c := range []struct {
		prefix string
		want   bool
	}{
		{"", true},
		{"n", true},
		{"na", true},
		{"nar", true},
		{"nar/", true},
		{"nar/abc", true},
		{"0", true},
		{"0c9g", true},
		{hash, true},
		{hash + ".", true},
		{hash + ".narinfo", true},
		{hash + ".narinfoX", false},
		{hash + ".ls", false},
		{"tmp/", false},
		// What only points at NARs and paths may expire by age.
		{"log/", false},
		{"debuginfo/", false},
		{"realisations/", false},
		{"build-trace-v2/", false},
		{"t", false},   // not in Nix's base-32 alphabet
		{"narx", true}, // could begin a store path hash
		{"nar-", false},
		{"log/", false},
		{"Nar/", false},
		{"0c9e", false},
		{"scratch/", false},
		{"abc/", false},
	} {
		if got := HoldsNix(c.prefix); got != c.want {
			t.Errorf("HoldsNix(%q) = %v, want %v", c.prefix, got, c.want)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := func(r ...meta.LifecycleRule) []meta.LifecycleRule { return r }
	many := make([]meta.LifecycleRule, MaxRules+1)
	for i := range many {
		many[i] = meta.LifecycleRule{Enabled: true, AbortUploadsDays: 1}
	}
	for _, c := range []struct {
		name  string
		rules []meta.LifecycleRule
		want  string // substring of the error; empty: valid
	}{
		{"none", nil, ""},
		{"abort everywhere", ok(meta.LifecycleRule{ID: "a", Enabled: true, AbortUploadsDays: 7}), ""},
		{"expire tmp", ok(meta.LifecycleRule{ID: "t", Enabled: true, Prefix: "tmp/", ExpirationDays: 1, AbortUploadsDays: 1}), ""},
		{"expire everything", ok(meta.LifecycleRule{ID: "all", Enabled: true, ExpirationDays: 30}), "keep-days"},
		{"expire nar/", ok(meta.LifecycleRule{ID: "n", Enabled: true, Prefix: "nar/", ExpirationDays: 30}), "nixbucket bucket set BUCKET keep-days"},
		{"expire narinfos", ok(meta.LifecycleRule{ID: "h", Enabled: false, Prefix: "0", ExpirationDays: 30}), "break closures"},
		{"no action", ok(meta.LifecycleRule{ID: "x", Enabled: true, Prefix: "tmp/"}), "no action"},
		{"negative", ok(meta.LifecycleRule{ID: "x", Enabled: true, AbortUploadsDays: -1}), "positive"},
		{"duplicate ID", ok(meta.LifecycleRule{ID: "x", Enabled: true, AbortUploadsDays: 1}, meta.LifecycleRule{ID: "x", Enabled: true, AbortUploadsDays: 2}), "unique"},
		{"long ID", ok(meta.LifecycleRule{ID: strings.Repeat("i", 256), Enabled: true, AbortUploadsDays: 1}), "ID length"},
		{"too many", many, "at most 1000"},
	} {
		err := Validate(c.rules)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: Validate: %v, want nil", c.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidRule) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Validate: %v, want ErrInvalidRule saying %q", c.name, err, c.want)
		}
	}
}

func TestAbortDays(t *testing.T) {
	r := func(prefix string, enabled bool, days int) meta.LifecycleRule {
		return meta.LifecycleRule{Prefix: prefix, Enabled: enabled, AbortUploadsDays: days}
	}
	for _, c := range []struct {
		name  string
		rules []meta.LifecycleRule
		key   string
		want  int
	}{
		{"default", nil, "nar/x.nar", meta.DefaultAbortUploadsDays},
		{"whole bucket", []meta.LifecycleRule{r("", true, 2)}, "x", 2},
		{"prefix covers", []meta.LifecycleRule{r("tmp/", true, 1)}, "tmp/a", 1},
		{"prefix misses: default", []meta.LifecycleRule{r("tmp/", true, 1)}, "nar/a", meta.DefaultAbortUploadsDays},
		{"fewest days", []meta.LifecycleRule{r("", true, 10), r("big/", true, 3)}, "big/a", 3},
		{"disabled prefix rule: default", []meta.LifecycleRule{r("tmp/", false, 1)}, "tmp/a", meta.DefaultAbortUploadsDays},
		{"disabled whole-bucket rule: off", []meta.LifecycleRule{r("", false, 7)}, "a", 0},
		{"disabled whole bucket, enabled prefix", []meta.LifecycleRule{r("", false, 7), r("tmp/", true, 1)}, "tmp/a", 1},
		{"expiration only: default", []meta.LifecycleRule{{Prefix: "tmp/", Enabled: true, ExpirationDays: 1}}, "tmp/a", meta.DefaultAbortUploadsDays},
	} {
		if got := AbortDays(c.rules, c.key); got != c.want {
			t.Errorf("%s: AbortDays(%q) = %d, want %d", c.name, c.key, got, c.want)
		}
	}
}

// TestAbortUploadsDaysSetting: the setting reads and writes the bucket's
// whole-bucket abort rule, leaving its other rules alone.
func TestAbortUploadsDaysSetting(t *testing.T) {
	ctx := t.Context()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.CreateBucket(ctx, meta.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	s := &Service{Store: store}
	check := func(want int, rules ...meta.LifecycleRule) {
		t.Helper()
		got, err := s.AbortUploadsDays(ctx, "b")
		if err != nil || got != want {
			t.Errorf("AbortUploadsDays = %d, %v; want %d", got, err, want)
		}
		have, err := s.Rules(ctx, "b")
		if err != nil || !reflect.DeepEqual(have, rules) {
			t.Errorf("rules = %+v, %v; want %+v", have, err, rules)
		}
	}
	check(meta.DefaultAbortUploadsDays)
	tmp := meta.LifecycleRule{ID: "tmp", Enabled: true, Prefix: "tmp/", ExpirationDays: 2}
	if err := s.SetRules(ctx, "b", []meta.LifecycleRule{tmp}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAbortUploadsDays(ctx, "b", 3); err != nil {
		t.Fatal(err)
	}
	check(3, tmp, meta.LifecycleRule{ID: "abort-uploads-days", Enabled: true, AbortUploadsDays: 3})
	if err := s.SetAbortUploadsDays(ctx, "b", 0); err != nil {
		t.Fatal(err)
	}
	check(0, tmp, meta.LifecycleRule{ID: "abort-uploads-days", Enabled: false, AbortUploadsDays: 3})
	if err := s.SetAbortUploadsDays(ctx, "b", 5); err != nil {
		t.Fatal(err)
	}
	check(5, tmp, meta.LifecycleRule{ID: "abort-uploads-days", Enabled: true, AbortUploadsDays: 5})
	if err := s.SetAbortUploadsDays(ctx, "b", -1); !errors.Is(err, ErrInvalidRule) {
		t.Errorf("SetAbortUploadsDays(-1): %v, want ErrInvalidRule", err)
	}
	if err := s.SetRules(ctx, "b", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAbortUploadsDays(ctx, "b", 0); err != nil {
		t.Fatal(err)
	}
	check(0, meta.LifecycleRule{ID: "abort-uploads-days", Enabled: false, AbortUploadsDays: meta.DefaultAbortUploadsDays})
}
