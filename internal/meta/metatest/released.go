package metatest

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Released is a dump of a database a released binary wrote.
type Released struct {
	Path    string // testdata/released/vNN-REV.sql
	Version int    // its schema version, NN
}

// ReleasedDumps returns the store's testdata/released/vNN-REV.sql, in order.
func ReleasedDumps(t *testing.T) []Released {
	t.Helper()
	files, err := filepath.Glob("testdata/released/v*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/released dumps: %v", err)
	}
	out := make([]Released, 0, len(files))
	for _, f := range files {
		num, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(f), "v"), "-")
		v, err := strconv.Atoi(num)
		if err != nil {
			t.Fatalf("%s: name is not vNN-REV.sql", f)
		}
		out = append(out, Released{Path: f, Version: v})
	}
	return out
}

// Scenario is what of the fixtures' scenario a dump holds: the scenario
// grew with the schema, and a dump holds what the binary that wrote it
// could store.
type Scenario struct {
	// Pins: the pin "release" (SQLite schema 6 on; every PostgreSQL dump).
	Pins bool
	// Later: what the later schemas keep, in the dumps made since
	// (SQLite schema 14 on, PostgreSQL 8 on); see checkLater.
	Later bool
}

// CheckReleased checks a store opened on a database a released binary
// wrote (the stores' testdata/released fixtures), now migrated: what the
// fixtures' scenario left must all be there and readable. That scenario is
// a closure of 4 paths named upg-… pushed with nix copy to nix-cache, a
// second signing key there; user alice with an IAM policy allowing
// s3:GetObject, her access key (secret replaced by "fixture-secret-alice")
// and a token; the bucket data with a policy on data/public/*, the objects
// public/small (3000 bytes) and private/big (200000), and an upload of
// mp/obj left with parts of 6 MiB and 100000 bytes; with pins, the pin
// "release" of the closure's top path. What the scenario grew since (see
// Scenario) is checked by checkLater.
func CheckReleased(t *testing.T, s meta.Store, sc Scenario) {
	t.Helper()
	ctx := t.Context()
	bs, err := s.Buckets(ctx)
	if err != nil || len(bs) != 2 || bs[0].Name != "data" || bs[1].Name != "nix-cache" {
		t.Errorf("Buckets = %+v, %v; want data, nix-cache", bs, err)
	}

	// Identity: alice's key, IAM policy and token; the bucket policy.
	keys, err := s.AccessKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(keys, func(k meta.AccessKey) bool { return k.User == "alice" })
	if i < 0 {
		t.Fatalf("no access key of alice among %+v", keys)
	}
	if k, err := s.AccessKey(ctx, keys[i].ID); err != nil || k.Secret != "fixture-secret-alice" || !k.Enabled {
		t.Errorf("alice's AccessKey = %+v, %v", k, err)
	}
	if u, err := s.User(ctx, "alice"); err != nil || !strings.Contains(string(u.Policy), `"s3:GetObject"`) {
		t.Errorf("User(alice) = %+v, %v; want her IAM policy", u, err)
	}
	toks, err := s.Tokens(ctx)
	if err != nil || len(toks) != 1 || toks[0].User != "alice" || len(toks[0].Hash) != 32 || !toks[0].Expires.IsZero() {
		t.Errorf("Tokens = %+v, %v; want alice's, never expiring", toks, err)
	} else if tok, err := s.Token(ctx, toks[0].ID); err != nil || !slices.Equal(tok.Hash, toks[0].Hash) {
		t.Errorf("Token(%s) = %+v, %v", toks[0].ID, tok, err)
	}
	if p, err := s.BucketPolicy(ctx, "data"); err != nil || !strings.Contains(string(p), "arn:aws:s3:::data/public/*") {
		t.Errorf("BucketPolicy(data) = %s, %v", p, err)
	}

	// The binary cache: both signing keys, the pushed closure signed and
	// found by the console's search.
	sks, err := s.SigningKeys(ctx, "nix-cache")
	if err != nil || len(sks) != 2 {
		t.Fatalf("SigningKeys = %+v, %v; want 2", sks, err)
	}
	names := []string{sks[0].Name, sks[1].Name}
	slices.Sort(names)
	if names[0] != "nix-cache-1" || names[1] != "second-key-1" || !strings.HasPrefix(sks[0].Secret, sks[0].Name+":") {
		t.Errorf("signing keys %v", names)
	}
	nis, err := s.ScanNarinfos(ctx, "nix-cache", "", 100)
	if err != nil || len(nis) != 4 {
		t.Fatalf("ScanNarinfos = %d narinfos, %v; want 4", len(nis), err)
	}
	for _, ni := range nis {
		if got, err := s.Narinfo(ctx, "nix-cache", ni.Hash); err != nil || got.StorePath != ni.StorePath ||
			len(got.Sigs) != 1 || !strings.HasPrefix(got.Sigs[0], "nix-cache-1:") || got.NarSize == 0 {
			t.Errorf("Narinfo(%s) = %+v, %v", ni.Hash, got, err)
		}
	}
	if found, err := s.SearchNarinfos(ctx, "nix-cache", "upg-", 10); err != nil || len(found) != 4 {
		t.Errorf("SearchNarinfos(upg-) = %d, %v; want 4", len(found), err)
	}
	if recent, err := s.RecentNarinfos(ctx, "nix-cache", 10); err != nil || len(recent) != 4 {
		t.Errorf("RecentNarinfos = %d, %v; want 4", len(recent), err)
	}
	if st, err := s.CacheStats(ctx, "nix-cache"); err != nil || st.Paths != 4 {
		t.Errorf("CacheStats = %+v, %v; want 4 paths", st, err)
	}

	// Objects, inline and in blobs, and the upload left in progress.
	for key, size := range map[string]int64{"public/small": 3000, "private/big": 200000} {
		if o, err := s.Object(ctx, "data", key); err != nil || o.Size != size || len(o.ETag) != 32 {
			t.Errorf("Object(data, %s) = %+v, %v; want %d bytes", key, o, err, size)
		}
	}
	ups, err := s.ScanUploads(ctx, meta.ScanQuery{Bucket: "data", Limit: 10})
	if err != nil || len(ups) != 1 || ups[0].Key != "mp/obj" {
		t.Fatalf("ScanUploads = %+v, %v; want mp/obj", ups, err)
	}
	if _, err := s.Upload(ctx, "data", "mp/obj", ups[0].ID); err != nil {
		t.Errorf("Upload: %v", err)
	}
	parts, err := s.Parts(ctx, "data", "mp/obj", ups[0].ID, 0, 100)
	if err != nil || len(parts) != 2 || parts[0].Size != 6<<20 || parts[1].Size != 100000 || parts[0].Segment.Blob == "" {
		t.Errorf("Parts = %+v, %v; want 6 MiB and 100000 bytes", parts, err)
	}

	if sc.Pins {
		pins, err := s.Pins(ctx, "nix-cache")
		if err != nil || len(pins) != 1 || pins[0].Name != "release" || len(pins[0].Paths) != 1 ||
			!strings.HasSuffix(pins[0].Paths[0], "-layer-3") {
			t.Errorf("Pins = %+v, %v; want release", pins, err)
		}
	}
	if sc.Later {
		checkLater(t, s, ups[0].ID)
	}
}
