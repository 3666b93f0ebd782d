package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/binarycache"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/backend"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/server"
	"github.com/nixbucket/nixbucket/internal/storage/localfs"
)

// pushFakePath uploads a NAR (uncompressed, so the server checks it
// without decoding) and its narinfo for store path hash, and returns the
// narinfo as the server serves it.
func pushFakePath(e *env, bucket, hash string, seed uint64) *narinfo.NarInfo {
	e.t.Helper()
	nar := data(seed, 4096)
	sum := nixhash.SHA256(sha256.Sum256(nar))
	url := "nar/" + sum.Nix32() + ".nar"
	e.put(bucket, url, nar)
	ni := narinfo.NarInfo{
		StorePath: "/nix/store/" + hash + "-fake", URL: url, Compression: "none",
		FileHash: sum.String(), FileSize: uint64(len(nar)), NarHash: sum.String(), NarSize: uint64(len(nar)),
	}
	e.put(bucket, hash+".narinfo", []byte(ni.String()))
	return served(e, bucket, hash)
}

func served(e *env, bucket, hash string) *narinfo.NarInfo {
	e.t.Helper()
	got, err := narinfo.Parse(e.get(bucket, hash+".narinfo"))
	if err != nil {
		e.t.Fatalf("served narinfo: %v", err)
	}
	return got
}

// publicKeys reads a bucket's keys from the store, as the admin CLI does
// while the server runs.
func publicKeys(t *testing.T, data, bucket string) []signature.PublicKey {
	t.Helper()
	store, err := backend.OpenExisting(data, "")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	keys, err := binarycache.PublicKeys(ctx(t), store, bucket)
	if err != nil {
		t.Fatal(err)
	}
	var out []signature.PublicKey
	for _, k := range keys {
		pk, err := signature.ParsePublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pk)
	}
	return out
}

// TestCreateBucketSigns: a bucket made by S3 CreateBucket has a signing
// key, named after it, and signs the narinfos pushed to it.
func TestCreateBucketSigns(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("signs")
	keys := publicKeys(t, e.data, b)
	if len(keys) != 1 || keys[0].Name() != b+"-1" {
		t.Fatalf("bucket %s made over S3 has keys %v, want one named %s-1", b, keys, b)
	}
	ni := pushFakePath(e, b, "0123456789abcdfghijklmnpqrsvwxyz", 1)
	if len(ni.Sigs) != 1 || !ni.Verify(keys[0]) {
		t.Errorf("narinfo pushed to %s has Sigs %q, want one by %s", b, ni.Sigs, keys[0].Name())
	}
}

// TestUnsignedBucketWarning: at start the server warns of every bucket
// without a signing key, naming the command that gives it one, and does
// not make a key itself.
func TestUnsignedBucketWarning(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	open := func(log io.Writer) *server.Server {
		srv, err := server.Open(context.Background(), server.Options{Data: data, Log: slog.New(slog.NewTextHandler(log, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	var first bytes.Buffer
	open(&first).Close()
	if strings.Contains(first.String(), "no signing key") {
		t.Errorf("a first start warns of unsigned buckets:\n%s", first.String())
	}
	store, err := backend.OpenExisting(data, "")
	if err != nil {
		t.Fatal(err)
	}
	// A bucket of an older data directory: made without a key.
	if err := store.CreateBucket(ctx(t), meta.Bucket{Name: "old-bucket", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	var second bytes.Buffer
	open(&second).Close()
	lines := strings.Split(second.String(), "\n")
	var warned []string
	for _, l := range lines {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, "no signing key") {
			warned = append(warned, l)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "bucket=old-bucket") || !strings.Contains(warned[0], "nixbucket bucket key generate --data "+data+" old-bucket") {
		t.Errorf("warnings %q, want one for old-bucket naming the fix; log:\n%s", warned, second.String())
	}
	if keys := publicKeys(t, data, "old-bucket"); len(keys) != 0 {
		t.Errorf("the server made keys %v for an old bucket", keys)
	}
}

// TestResignWhileServing: after a new key is added, Resign run by another
// process on the same data directory (as `nixbucket bucket resign` is)
// adds its signature to every stored narinfo, keeps the old ones, and the
// running server serves the new narinfos at once, though it had the old
// ones in memory. A second run changes nothing.
func TestResignWhileServing(t *testing.T) {
	e := newEnv(t)
	b := e.bucket("rotate")
	hashes := []string{"0123456789abcdfghijklmnpqrsvwxyz", "1123456789abcdfghijklmnpqrsvwxyz", "2123456789abcdfghijklmnpqrsvwxyz"}
	for i, h := range hashes {
		pushFakePath(e, b, h, uint64(i))
		served(e, b, h) // remembered by the server now
	}
	old := publicKeys(t, e.data, b)[0]

	// The other process: the CLI's store, blobs and object core.
	store, err := backend.OpenExisting(e.data, "")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	blobs, err := localfs.OpenShared(filepath.Join(e.data, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	objs := &objects.Service{Meta: store, Blobs: blobs, NoMemo: true}
	hook := &binarycache.Hook{Objects: objs, Keys: store}
	objs.Hook = hook
	newKey, err := binarycache.NewSigningKey(ctx(t), store, b, "")
	if err != nil {
		t.Fatal(err)
	}
	opts := binarycache.ResignOptions{Every: 2, Announce: func(ctx context.Context) error {
		return store.SetSetting(ctx, "narinfos-resigned", time.Now().String())
	}}
	var progress []binarycache.ResignResult
	opts.Progress = func(r binarycache.ResignResult) { progress = append(progress, r) }
	res, err := hook.Resign(ctx(t), b, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Narinfos != 3 || res.Resigned != 3 || len(progress) != 1 {
		t.Errorf("first run: %+v, progress %+v; want 3 narinfos re-signed, one progress report", res, progress)
	}
	for _, h := range hashes {
		ni := served(e, b, h)
		if !ni.Verify(newKey.Public()) || !ni.Verify(old) || len(ni.Sigs) != 2 {
			t.Errorf("%s served with Sigs %q, want the old key's and the new key's", h, ni.Sigs)
		}
	}
	res, err = hook.Resign(ctx(t), b, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Narinfos != 3 || res.Resigned != 0 {
		t.Errorf("second run: %+v, want 3 narinfos, none re-signed", res)
	}

	// A narinfo whose NAR the server cannot check (lz4) is stored with
	// its uploader's signatures only, and Resign leaves it so: signed
	// means checked.
	nar := data(9, 4096)
	sum := nixhash.SHA256(sha256.Sum256(nar))
	url := "nar/" + sum.Nix32() + ".nar.lz4"
	e.put(b, url, nar)
	lz4 := narinfo.NarInfo{
		StorePath: "/nix/store/3123456789abcdfghijklmnpqrsvwxyz-lz4", URL: url, Compression: "lz4",
		FileHash: sum.String(), FileSize: uint64(len(nar)), NarHash: nixhash.SHA256(sha256.Sum256([]byte("x"))).String(), NarSize: 1,
	}
	e.put(b, "3123456789abcdfghijklmnpqrsvwxyz.narinfo", []byte(lz4.String()))
	res, err = hook.Resign(ctx(t), b, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Narinfos != 4 || res.Resigned != 0 || res.Skipped != 1 {
		t.Errorf("run with an lz4 NAR: %+v, want 4 narinfos, 1 skipped, none re-signed", res)
	}
	if ni := served(e, b, "3123456789abcdfghijklmnpqrsvwxyz"); len(ni.Sigs) != 0 {
		t.Errorf("the lz4 narinfo was signed: %q", ni.Sigs)
	}
}
