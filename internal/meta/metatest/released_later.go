package metatest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// checkLater checks what the fixtures' scenario holds since SQLite schema
// 14 and PostgreSQL schema 8 (Scenario.Later), each kept by a column or
// table that a migration added and a later one may rewrite: the tags of
// data's objects (public/small: release=stable, owner=alice, set after
// its PUT; private/big: class=private, given with it); the upload mp/obj
// (uploadID) made with CRC32, FULL_OBJECT and the tag stage=wip, its parts
// with their checksums; nix-cache's priority 30, its upstream
// https://cache.nixos.org with that cache's key and a 5 s timeout, and its
// retention (30 days, 10 GiB, gc on, 2 h grace); data's lifecycle rule
// aborting uploads after 30 days; and the traffic counters of both buckets
// that the server saved when it stopped, data's counting at least the
// bytes of its objects and parts.
func checkLater(t *testing.T, s meta.Store, uploadID string) {
	t.Helper()
	ctx := t.Context()
	for key, want := range map[string][]meta.Tag{
		"public/small": {{Key: "release", Value: "stable"}, {Key: "owner", Value: "alice"}},
		"private/big":  {{Key: "class", Value: "private"}},
	} {
		if o, err := s.Object(ctx, "data", key); err != nil || !slices.Equal(o.Tags, want) {
			t.Errorf("Object(data, %s).Tags = %+v, %v; want %+v", key, o.Tags, err, want)
		}
	}
	up, err := s.Upload(ctx, "data", "mp/obj", uploadID)
	if err != nil || up.ChecksumAlgorithm != "CRC32" || up.ChecksumType != "FULL_OBJECT" ||
		!slices.Equal(up.Tags, []meta.Tag{{Key: "stage", Value: "wip"}}) {
		t.Errorf("Upload(mp/obj) = %+v, %v; want CRC32, FULL_OBJECT, stage=wip", up, err)
	}
	parts, err := s.Parts(ctx, "data", "mp/obj", uploadID, 0, 100)
	if err != nil || len(parts) != 2 || parts[0].Checksum == "" || parts[1].Checksum == "" {
		t.Errorf("Parts = %+v, %v; want both with their CRC32", parts, err)
	}

	cs, err := s.CacheSettings(ctx, "nix-cache")
	if err != nil || cs.Priority != 30 || cs.Upstreams != "https://cache.nixos.org" ||
		!strings.HasPrefix(cs.UpstreamKeys, "cache.nixos.org-1:") || cs.UpstreamTimeout != 5*time.Second {
		t.Errorf("CacheSettings(nix-cache) = %+v, %v; want priority 30, the upstream cache.nixos.org, 5s", cs, err)
	}
	want := meta.Retention{KeepDays: 30, MaxSize: 10 << 30, GC: true, Grace: 2 * time.Hour}
	if r, err := s.Retention(ctx, "nix-cache"); err != nil || r != want {
		t.Errorf("Retention(nix-cache) = %+v, %v; want %+v", r, err, want)
	}
	rules, err := s.LifecycleRules(ctx, "data")
	if err != nil || len(rules) != 1 || !rules[0].Enabled || rules[0].AbortUploadsDays != 30 {
		t.Errorf("LifecycleRules(data) = %+v, %v; want uploads aborted after 30 days", rules, err)
	}

	in := map[string]int64{}
	for _, r := range loadTraffic(t, s, "", 0) {
		if r.Node == "" || r.Hour <= 0 || r.Requests <= 0 {
			t.Errorf("traffic row %+v", r)
		}
		in[r.Bucket] += r.BytesIn
	}
	if in["nix-cache"] <= 0 || in["data"] < 3000+200000+6<<20+100000 {
		t.Errorf("traffic bytes in = %v; want nix-cache's, and data's of its objects and parts", in)
	}
}
