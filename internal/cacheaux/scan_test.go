package cacheaux

import (
	"bytes"
	"compress/gzip"
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/sqlite"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/storage/localfs"
)

// countingGetter counts the objects read one at a time.
type countingGetter struct {
	svc  *objects.Service
	gets atomic.Int64
}

func (g *countingGetter) Get(ctx context.Context, bucket, key string) (meta.Object, *objects.Reader, error) {
	g.gets.Add(1)
	return g.svc.Get(ctx, bucket, key)
}

// TestScanInline: Scan parses the entries whose bodies the metadata holds
// inline from the listing itself, compressed ones too, and reads only an
// entry stored as a blob on its own.
func TestScanInline(t *testing.T) {
	dir := t.TempDir()
	store, err := sqlite.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	blobs, err := localfs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	svc := &objects.Service{Meta: store, Blobs: blobs}
	ctx := t.Context()
	if err := svc.CreateBucket(ctx, "cache"); err != nil {
		t.Fatal(err)
	}
	const h = "vhjmfv10dk9n4aajidz821l1kg641k9b"
	put := func(key, encoding string, body []byte) {
		t.Helper()
		in := objects.PutInput{Bucket: "cache", Key: key, Body: bytes.NewReader(body), Size: int64(len(body)),
			Headers: meta.Headers{ContentEncoding: encoding}}
		if _, err := svc.Put(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"outPath":"/nix/store/` + h + `-gz"}`))
	zw.Close()
	put("debuginfo/01.debug", "", []byte(`{"archive":"../nar/a.nar.xz","member":"m"}`))
	put("realisations/sha256:ab!out.doi", "gzip", gz.Bytes())
	big := `{"outPath":"/nix/store/` + h + `-big"` + strings.Repeat(" ", objects.InlineMax) + `}`
	put("build-trace-v2/x.drv/out.doi", "", []byte(big))

	g := &countingGetter{svc: svc}
	got := map[string]string{}
	err = Scan(ctx, store, g, "cache", func(o Object) error {
		if o.Err != nil {
			t.Errorf("%s: %v", o.Key, o.Err)
		}
		got[o.Key] = o.Target
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"debuginfo/01.debug": "nar/a.nar.xz", "realisations/sha256:ab!out.doi": h, "build-trace-v2/x.drv/out.doi": h}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s names %q, want %q", k, got[k], w)
		}
	}
	if n := g.gets.Load(); n != 1 {
		t.Errorf("Scan read %d objects one at a time, want 1 (the one stored as a blob)", n)
	}
}
