package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/backend"
)

// indexPaths puts n narinfo records (with their objects) into bucket of
// the data directory, as pushes would, and returns their store paths.
func indexPaths(t *testing.T, data, bucket string, n int) []string {
	t.Helper()
	store, err := backend.OpenExisting(data, "")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var paths []string
	for i := range n {
		hash := fmt.Sprintf("%032d", i)
		hash = strings.NewReplacer("0", "a", "1", "b", "2", "c").Replace(hash)
		sp := fmt.Sprintf("/nix/store/%s-app-1.%d", hash, i)
		body := []byte("StorePath: " + sp + "\n")
		obj := meta.Object{
			Bucket: bucket, Key: hash + ".narinfo", Size: int64(len(body)), ETag: "0123456789abcdef0123456789abcdef",
			Modified: time.Now(), Headers: meta.Headers{ContentType: "text/x-nix-narinfo"},
			Segments: []meta.Segment{{Size: int64(len(body)), Data: body}},
			Narinfo: &meta.Narinfo{Bucket: bucket, Hash: hash, StorePath: sp, URL: "nar/x.nar", Compression: "none",
				FileHash: "sha256:x", FileSize: 1, NarHash: "sha256:x", NarSize: 1, Created: time.Now(), LastAccess: time.Now()},
		}
		if _, err := store.PutObject(context.Background(), obj, nil); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, sp)
	}
	return paths
}

var rfc3339RE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)

// TestPinCommands: pin add refuses a path without a narinfo (naming it),
// moves a pin keeping its last --keep revisions, and pin list and remove
// show and drop pins.
func TestPinCommands(t *testing.T) {
	data := newData(t)
	p := indexPaths(t, data, "nix-cache", 4)
	env := []string{"NIXBUCKET_DATA=" + data}
	must := func(args ...string) string {
		t.Helper()
		r := run(t, env, args...)
		if r.code != 0 {
			t.Fatalf("nixbucket %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
		}
		return r.stdout
	}
	refused := func(want string, args ...string) {
		t.Helper()
		r := run(t, env, args...)
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("nixbucket %s: exit %d, stderr %q; want a failure saying %q", strings.Join(args, " "), r.code, r.stderr, want)
		}
	}

	if out := must("pin", "list", "nix-cache"); out != "" {
		t.Errorf("pin list of no pins printed %q", out)
	}
	if out := must("pin", "add", "nix-cache", "app", p[0]); out != "pinned app in nix-cache: "+p[0]+" (keeps 1)\n" {
		t.Errorf("pin add printed %q", out)
	}
	missing := "/nix/store/dddddddddddddddddddddddddddddddd-not-pushed"
	refused(missing+" has no narinfo in bucket \"nix-cache\"", "pin", "add", "nix-cache", "app", missing)
	refused("no such bucket", "pin", "add", "nope", "app", p[0])
	refused("is not a store path", "pin", "add", "nix-cache", "app", "/tmp/not-a-store-path-at-all")
	refused(`name "a b"`, "pin", "add", "nix-cache", "a b", p[0])
	refused("--keep -1", "pin", "add", "nix-cache", "app", p[0], "--keep", "-1")

	// Moving with --keep 2 keeps the two newest; the pin keeps its N.
	must("pin", "add", "nix-cache", "app", p[1], "--keep", "2")
	must("pin", "add", "nix-cache", "app", p[2])
	must("pin", "add", "--data", data, "nix-cache", "release", p[3])
	out := rfc3339RE.ReplaceAllString(must("pin", "list", "nix-cache"), "TIME")
	golden(t, "pin-list", out) // app keeps p[2] then p[1]; p[0] is gone

	must("pin", "remove", "nix-cache", "app")
	refused("no such pin", "pin", "remove", "nix-cache", "app")
	if out := must("pin", "list", "nix-cache"); strings.Contains(out, "app ") || !strings.Contains(out, "release") {
		t.Errorf("pin list after remove:\n%s", out)
	}
}
