package binarycache_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/binarycache"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/sqlite"
	"github.com/nixbucket/nixbucket/internal/nix/codec"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/storage/localfs"
	"github.com/ulikunitz/xz"
)

const bucket = "cache-test"

type env struct {
	objs  *objects.Service
	store *sqlite.Store
	key   signature.SecretKey
	opens *countingBlobs
	// mayRead answers objects.PutInput.MayRead; nil means always.
	mayRead func(key string) bool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	blobs, err := localfs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	store, err := sqlite.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	counted := &countingBlobs{Backend: blobs}
	e := &env{store: store, objs: &objects.Service{Meta: store, Blobs: counted}, opens: counted}
	e.objs.Hook = &binarycache.Hook{Objects: e.objs, Keys: store}
	ctx := context.Background()
	if err := e.objs.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	if e.key, err = binarycache.NewSigningKey(ctx, store, bucket, ""); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) put(t *testing.T, key string, body []byte, enc string) (meta.Object, error) {
	t.Helper()
	return e.putHeaders(t, key, body, meta.Headers{ContentEncoding: enc})
}

func (e *env) putHeaders(t *testing.T, key string, body []byte, h meta.Headers) (meta.Object, error) {
	t.Helper()
	mayRead := e.mayRead
	if mayRead == nil {
		mayRead = func(string) bool { return true }
	}
	return e.objs.Put(context.Background(), objects.PutInput{
		Bucket: bucket, Key: key, Body: bytes.NewReader(body), Size: int64(len(body)),
		Headers: h, MayRead: mayRead,
	})
}

const hash = "0123456789abcdfghijklmnpqrsvwxyz" // 32 valid nix32 characters

// validNarinfo uploads a NAR and returns a narinfo for it.
func (e *env) validNarinfo(t *testing.T) *narinfo.NarInfo {
	t.Helper()
	nar := bytes.Repeat([]byte("nar bytes "), 100)
	sum := sha256.Sum256(nar)
	if _, err := e.put(t, "nar/x.nar", nar, ""); err != nil {
		t.Fatal(err)
	}
	return &narinfo.NarInfo{
		StorePath: "/nix/store/" + hash + "-hello", URL: "nar/x.nar", Compression: "none",
		FileHash: nixhash.SHA256(sum).String(), FileSize: uint64(len(nar)),
		NarHash: nixhash.SHA256(sum).String(), NarSize: uint64(len(nar)),
		References: []string{hash + "-hello"},
	}
}

func TestAcceptsSignsAndIndexes(t *testing.T) {
	e := newEnv(t)
	ni := e.validNarinfo(t)
	obj, err := e.put(t, hash+".narinfo", []byte(ni.String()), "")
	if err != nil {
		t.Fatal(err)
	}
	_, r, err := e.objs.Get(context.Background(), bucket, obj.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	stored, _ := io.ReadAll(r)
	got, err := narinfo.Parse(stored)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Verify(e.key.Public()) {
		t.Fatalf("stored narinfo is not signed by the bucket key:\n%s", stored)
	}
	rec, err := e.store.Narinfo(context.Background(), bucket, hash)
	if err != nil || rec.NarSize != int64(ni.NarSize) || rec.StorePath != ni.StorePath {
		t.Fatalf("index record %+v, %v", rec, err)
	}
}

func TestRejects(t *testing.T) {
	e := newEnv(t)
	base := e.validNarinfo(t)
	cases := []struct {
		name, key, field string
		edit             func(n *narinfo.NarInfo)
	}{
		{"missing NAR", hash + ".narinfo", "URL", func(n *narinfo.NarInfo) { n.URL = "nar/missing.nar" }},
		{"wrong size", hash + ".narinfo", "FileSize", func(n *narinfo.NarInfo) { n.FileSize++ }},
		{"wrong hash", hash + ".narinfo", "FileHash", func(n *narinfo.NarInfo) { n.FileHash = n.NarHash[:len(n.NarHash)-1] + "0" }},
		{"key mismatch", strings.Repeat("0", 32) + ".narinfo", "StorePath", func(*narinfo.NarInfo) {}},
		{"escaping URL", hash + ".narinfo", "URL", func(n *narinfo.NarInfo) { n.URL = "../other/x.nar" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := *base
			c.edit(&n)
			_, err := e.put(t, c.key, []byte(n.String()), "")
			var rej *binarycache.Rejection
			if !errors.As(err, &rej) || !errors.Is(err, objects.ErrRejected) || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("err = %v, want a rejection naming %s", err, c.field)
			}
			if _, err := e.objs.Head(context.Background(), bucket, c.key); !errors.Is(err, meta.ErrNoSuchKey) {
				t.Fatalf("a rejected narinfo was stored: %v", err)
			}
		})
	}
	if _, err := e.put(t, hash+".narinfo", []byte("<html>not a narinfo</html>"), ""); !errors.Is(err, objects.ErrRejected) {
		t.Fatalf("HTML accepted: %v", err)
	}
}

// TestEncodings uploads a narinfo in every encoding Nix may use: gzip, br
// and zstd are stored encoded as uploaded, xz and bzip2 decoded.
func TestEncodings(t *testing.T) {
	e := newEnv(t)
	text := []byte(e.validNarinfo(t).String())
	for _, enc := range []string{"gzip", "br", "zstd", "xz"} {
		t.Run(enc, func(t *testing.T) {
			body := compress(t, enc, text)
			obj, err := e.put(t, hash+".narinfo", body, enc)
			if err != nil {
				t.Fatal(err)
			}
			wantEnc := enc
			if enc == "xz" {
				wantEnc = ""
			}
			if obj.Headers.ContentEncoding != wantEnc {
				t.Fatalf("stored Content-Encoding %q, want %q", obj.Headers.ContentEncoding, wantEnc)
			}
			_, r, _ := e.objs.Get(context.Background(), bucket, obj.Key)
			stored, _ := io.ReadAll(r)
			r.Close()
			if wantEnc != "" {
				d, err := decoderFor(enc, stored)
				if err != nil {
					t.Fatal(err)
				}
				stored = d
			}
			n, err := narinfo.Parse(stored)
			if err != nil || !n.Verify(e.key.Public()) {
				t.Fatalf("stored body does not decode to a signed narinfo: %v\n%q", err, stored)
			}
		})
	}
}

func compress(t *testing.T, enc string, b []byte) []byte {
	t.Helper()
	if enc == "xz" {
		var buf bytes.Buffer
		w, err := xz.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	out, err := codec.Encode(enc, b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func decoderFor(enc string, b []byte) ([]byte, error) { return binarycache.Decode(enc, b, 1<<20) }

func TestIsNarinfoKey(t *testing.T) {
	for key, want := range map[string]bool{
		hash + ".narinfo":                          true,
		strings.ToUpper(hash) + ".narinfo":         false,
		hash[:31] + ".narinfo":                     false,
		"nar/" + hash + ".narinfo":                 false,
		hash + ".ls":                               false,
		"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.narinfo": false, // 'e' is not in Nix's base-32
	} {
		if got := binarycache.IsNarinfoKey(key); got != want {
			t.Errorf("IsNarinfoKey(%q) = %v", key, got)
		}
	}
}

func TestInfo(t *testing.T) {
	got := string(binarycache.Info(meta.CacheSettings{Priority: 30, WantMassQuery: false}))
	want := "StoreDir: /nix/store\nWantMassQuery: 0\nPriority: 30\n"
	if got != want {
		t.Fatalf("Info = %q, want %q", got, want)
	}
}

func TestTouchBatches(t *testing.T) {
	e := newEnv(t)
	ni := e.validNarinfo(t)
	if _, err := e.put(t, hash+".narinfo", []byte(ni.String()), ""); err != nil {
		t.Fatal(err)
	}
	s := &binarycache.Service{Store: e.store}
	before := time.Now()
	s.Touch(bucket, hash+".narinfo")
	s.Touch(bucket, "nar/x.nar") // not a narinfo: ignored
	s.Flush(context.Background())
	rec, err := e.store.Narinfo(context.Background(), bucket, hash)
	if err != nil {
		t.Fatal(err)
	}
	if rec.LastAccess.Before(before.Add(-time.Second)) {
		t.Fatalf("last access %v not updated (before %v)", rec.LastAccess, before)
	}
}

// TestCacheInfoFollowsSettings: the remembered nix-cache-info changes
// with the bucket's settings.
func TestCacheInfoFollowsSettings(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := &binarycache.Service{Store: e.store}
	for _, st := range []meta.CacheSettings{{Priority: 40, WantMassQuery: true}, {Priority: 10, WantMassQuery: false}, {Priority: 99, WantMassQuery: true}} {
		if err := e.store.SetCacheSettings(ctx, bucket, st); err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second answer comes from memory
			got, err := s.CacheInfo(ctx, bucket)
			if err != nil {
				t.Fatal(err)
			}
			if want := binarycache.Info(st); string(got) != string(want) {
				t.Fatalf("CacheInfo = %q, want %q", got, want)
			}
		}
	}
}
