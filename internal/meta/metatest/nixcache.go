package metatest

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

func checkSettings(t *testing.T, s meta.Store, bucket string, want meta.CacheSettings) {
	t.Helper()
	got, err := s.CacheSettings(t.Context(), bucket)
	if err != nil {
		t.Fatalf("CacheSettings(%q): %v", bucket, err)
	}
	if got != want {
		t.Errorf("CacheSettings(%q) = %+v, want %+v", bucket, got, want)
	}
}

func testCacheSettings(t *testing.T, s meta.Store) {
	ctx := t.Context()
	if meta.DefaultCacheSettings != (meta.CacheSettings{Priority: 40, WantMassQuery: true}) {
		t.Errorf("DefaultCacheSettings = %+v, want Nix's priority 40 with mass queries", meta.DefaultCacheSettings)
	}
	_, err := s.CacheSettings(ctx, "missing")
	wantErr(t, "CacheSettings(missing)", err, meta.ErrNoSuchBucket)
	err = s.SetCacheSettings(ctx, "missing", meta.CacheSettings{Priority: 1})
	wantErr(t, "SetCacheSettings(missing)", err, meta.ErrNoSuchBucket)
	mustCreateBucket(t, s, "b")
	mustCreateBucket(t, s, "c")
	checkSettings(t, s, "b", meta.DefaultCacheSettings)

	for _, cs := range []meta.CacheSettings{
		{Priority: 10, WantMassQuery: false},
		{Priority: 50, WantMassQuery: true},
		{Priority: 0, WantMassQuery: false}, // zero values are values, not "unset"
		{Priority: -1 << 40, WantMassQuery: true},
		meta.DefaultCacheSettings,
		{Priority: 41, WantMassQuery: false},
		{Priority: 40, WantMassQuery: true, Upstreams: "https://cache.nixos.org s3://private?region=eu-west-2&profile=r",
			UpstreamKeys: "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=", UpstreamNegativeTTL: 90 * time.Second, UpstreamMaxConns: 4,
			UpstreamTimeout: 1500 * time.Millisecond},
		{Priority: 40, Upstreams: "http://a", UpstreamTrustAny: true},
		{Priority: 40, WantMassQuery: true}, // upstreams removed
	} {
		if err := s.SetCacheSettings(ctx, "b", cs); err != nil {
			t.Fatalf("SetCacheSettings(%+v): %v", cs, err)
		}
		checkSettings(t, s, "b", cs)
		checkSettings(t, s, "c", meta.DefaultCacheSettings)
	}
}

func checkKeys(t *testing.T, s meta.Store, bucket string, want ...meta.SigningKey) {
	t.Helper()
	got, err := s.SigningKeys(t.Context(), bucket)
	if err != nil {
		t.Fatalf("SigningKeys(%q): %v", bucket, err)
	}
	if len(got) != len(want) {
		t.Fatalf("SigningKeys(%q) = %+v, want %+v", bucket, got, want)
	}
	for i := range got {
		checkTime(t, "signing key "+want[i].Name+" Created", got[i].Created, want[i].Created)
		g, w := got[i], want[i]
		g.Created, w.Created = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("SigningKeys(%q)[%d] = %+v, want %+v", bucket, i, g, w)
		}
	}
}

func testSigningKeys(t *testing.T, s meta.Store) {
	ctx := t.Context()
	_, err := s.SigningKeys(ctx, "missing")
	wantErr(t, "SigningKeys(missing)", err, meta.ErrNoSuchBucket)
	err = s.AddSigningKey(ctx, meta.SigningKey{Bucket: "missing", Name: "k", Secret: "k:AAAA", Created: when})
	wantErr(t, "AddSigningKey to a missing bucket", err, meta.ErrNoSuchBucket)
	mustCreateBucket(t, s, "b")
	mustCreateBucket(t, s, "c")
	checkKeys(t, s, "b")

	// Secrets as nix-store --generate-binary-cache-key writes them: stored
	// as given, byte for byte.
	k2 := meta.SigningKey{Bucket: "b", Name: "nix-cache-2", Created: when.Add(time.Hour),
		Secret: "nix-cache-2:" + strings.Repeat("A+/z", 22) + "==\n"}
	k1 := meta.SigningKey{Bucket: "b", Name: "nix-cache-1", Created: when,
		Secret: "nix-cache-1:" + strings.Repeat("9a8b", 22) + "=="}
	kc := meta.SigningKey{Bucket: "c", Name: "nix-cache-1", Created: when, Secret: "nix-cache-1:other"}
	for _, k := range []meta.SigningKey{k2, k1, kc} {
		if err := s.AddSigningKey(ctx, k); err != nil {
			t.Fatalf("AddSigningKey(%q, %q): %v", k.Bucket, k.Name, err)
		}
	}
	checkKeys(t, s, "b", k1, k2)
	checkKeys(t, s, "c", kc)

	dup := k1
	dup.Secret, dup.Created = "nix-cache-1:replaced", when.Add(2*time.Hour)
	wantErr(t, "AddSigningKey of an existing name", s.AddSigningKey(ctx, dup), meta.ErrSigningKeyExists)
	for _, bad := range []meta.SigningKey{
		{Bucket: "b", Name: "", Secret: "x:AAAA"},
		{Bucket: "b", Name: "empty", Secret: ""},
	} {
		if err := s.AddSigningKey(ctx, bad); err == nil {
			t.Errorf("AddSigningKey(%+v) succeeded", bad)
		}
	}
	checkKeys(t, s, "b", k1, k2)

	if err := s.RemoveSigningKey(ctx, "b", "nix-cache-1"); err != nil {
		t.Fatalf("RemoveSigningKey: %v", err)
	}
	checkKeys(t, s, "b", k2)
	checkKeys(t, s, "c", kc) // the same name in another bucket stays
	for _, c := range []struct{ bucket, name string }{
		{"b", "nix-cache-1"}, {"b", "NIX-CACHE-2"}, {"b", ""}, {"missing", "nix-cache-1"},
	} {
		err := s.RemoveSigningKey(ctx, c.bucket, c.name)
		wantErr(t, "RemoveSigningKey("+c.bucket+", "+c.name+")", err, meta.ErrNoSuchSigningKey)
	}
	// The name is free again.
	if err := s.AddSigningKey(ctx, dup); err != nil {
		t.Fatalf("AddSigningKey after removal: %v", err)
	}
	checkKeys(t, s, "b", dup, k2)
}

// testNixBucketCleanup deletes a bucket that was a cache: a new bucket of
// the same name starts without records, settings or keys.
func testNixBucketCleanup(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	mustCreateBucket(t, s, "keep")
	h := nixHash(1)
	rec := newNarinfo(h, 1)
	for _, bucket := range []string{"b", "keep"} {
		mustPut(t, s, narinfoObject(bucket, h, &rec))
		if err := s.SetCacheSettings(ctx, bucket, meta.CacheSettings{Priority: 7}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddSigningKey(ctx, meta.SigningKey{Bucket: bucket, Name: "k", Secret: "k:AAAA", Created: when}); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, "DeleteBucket of a cache", s.DeleteBucket(ctx, "b"), meta.ErrBucketNotEmpty)
	checkNarinfo(t, s, "b", h, &rec)
	if _, err := s.DeleteObject(ctx, "b", h+".narinfo", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBucket(ctx, "b"); err != nil {
		t.Fatalf("DeleteBucket of an emptied cache: %v", err)
	}
	_, err := s.CacheSettings(ctx, "b")
	wantErr(t, "CacheSettings after DeleteBucket", err, meta.ErrNoSuchBucket)
	_, err = s.SigningKeys(ctx, "b")
	wantErr(t, "SigningKeys after DeleteBucket", err, meta.ErrNoSuchBucket)
	_, err = s.CacheStats(ctx, "b")
	wantErr(t, "CacheStats after DeleteBucket", err, meta.ErrNoSuchBucket)

	mustCreateBucket(t, s, "b")
	checkSettings(t, s, "b", meta.DefaultCacheSettings)
	checkKeys(t, s, "b")
	checkStats(t, s, "b", meta.CacheStats{})
	checkNarinfo(t, s, "b", h, nil)
	// The other bucket kept everything.
	checkSettings(t, s, "keep", meta.CacheSettings{Priority: 7})
	checkKeys(t, s, "keep", meta.SigningKey{Bucket: "keep", Name: "k", Secret: "k:AAAA", Created: when})
	checkNarinfo(t, s, "keep", h, &rec)
}

// testNixGeneration checks that the cache settings and signing keys, which
// servers cache like identity data, advance the generation, and that the
// index and the reads do not.
func testNixGeneration(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	h := nixHash(1)
	key := meta.SigningKey{Bucket: "b", Name: "k", Secret: "k:AAAA", Created: when}
	steps := []struct {
		name   string
		fn     func() error
		change bool
	}{
		{"SetCacheSettings", func() error { return s.SetCacheSettings(ctx, "b", meta.CacheSettings{Priority: 1}) }, true},
		{"SetCacheSettings again", func() error { return s.SetCacheSettings(ctx, "b", meta.DefaultCacheSettings) }, true},
		{"AddSigningKey", func() error { return s.AddSigningKey(ctx, key) }, true},
		{"RemoveSigningKey", func() error { return s.RemoveSigningKey(ctx, "b", "k") }, true},
		{"reads", func() error {
			for _, read := range []func(context.Context) error{
				func(ctx context.Context) error { _, err := s.CacheSettings(ctx, "b"); return err },
				func(ctx context.Context) error { _, err := s.CacheSettings(ctx, "missing"); return err },
				func(ctx context.Context) error { _, err := s.SigningKeys(ctx, "b"); return err },
				func(ctx context.Context) error { _, err := s.CacheStats(ctx, "b"); return err },
				func(ctx context.Context) error { _, err := s.Narinfo(ctx, "b", h); return err },
			} {
				read(ctx) // some fail; only the generation matters here
			}
			return nil
		}, false},
	}
	for _, st := range steps {
		before := mustGen(t, s)
		if err := st.fn(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		after := mustGen(t, s)
		if st.change && after == before {
			t.Errorf("%s: generation stayed %d", st.name, after)
		}
		if !st.change && after != before {
			t.Errorf("%s: generation changed from %d to %d", st.name, before, after)
		}
	}
	// Failed changes need not advance it, but must not break anything.
	wantErr(t, "RemoveSigningKey of a removed key", s.RemoveSigningKey(ctx, "b", "k"), meta.ErrNoSuchSigningKey)
	checkKeys(t, s, "b")
}

func mustGen(t *testing.T, s meta.Store) uint64 {
	t.Helper()
	g, err := s.Generation(t.Context())
	if err != nil {
		t.Fatalf("Generation: %v", err)
	}
	return g
}
