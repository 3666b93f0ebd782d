package binarycache_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/binarycache"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// TestResignPulled: after a key rotation, Resign signs a narinfo a
// pull-through bucket took from an upstream and whose NAR is still
// upstream (the Hook would refuse it: no NAR), keeping its upstream
// signature and its pulled mark; a narinfo without the mark whose NAR is
// missing still fails the run, as before.
func TestResignPulled(t *testing.T) {
	e := newEnv(t)
	// Like the admin command: the test writes beside the object core.
	e.objs.NoMemo = true
	ctx := context.Background()
	up, err := signature.Generate("upstream-1")
	if err != nil {
		t.Fatal(err)
	}
	var fh nixhash.SHA256
	fh[0] = 7
	ni := &narinfo.NarInfo{
		StorePath: "/nix/store/" + hash + "-pulled", URL: "nar/" + hash + "-" + fh.Nix32() + ".nar.xz", Compression: "xz",
		FileHash: fh.String(), FileSize: 1234, NarHash: fh.String(), NarSize: 4321,
	}
	ni.Sign(up)
	ni.Sign(e.key) // as the pull signs with the bucket's keys
	rec := &meta.Narinfo{Bucket: bucket, Hash: hash, StorePath: ni.StorePath, URL: ni.URL, Compression: ni.Compression,
		FileHash: ni.FileHash, FileSize: int64(ni.FileSize), NarHash: ni.NarHash, NarSize: int64(ni.NarSize), Sigs: ni.Sigs,
		Created: time.Now().Add(-48 * time.Hour), LastAccess: time.Now().Add(-24 * time.Hour)}
	key := hash + ".narinfo"
	if _, err := e.objs.PutVouched(ctx, bucket, key, meta.Headers{ContentType: "text/x-nix-narinfo"}, []byte(ni.String()), rec, objects.Conditions{}); err != nil {
		t.Fatal(err)
	}
	rotated, err := binarycache.NewSigningKey(ctx, e.store, bucket, "")
	if err != nil {
		t.Fatal(err)
	}
	hook := e.objs.Hook.(*binarycache.Hook)
	res, err := hook.Resign(ctx, bucket, binarycache.ResignOptions{})
	if err != nil {
		t.Fatalf("Resign: %v", err)
	}
	if res.Narinfos != 1 || res.Resigned != 1 || res.Pulled != 1 {
		t.Errorf("Resign: %+v, want 1 narinfo re-signed, pulled", res)
	}
	obj, r, err := e.objs.Get(ctx, bucket, key)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r)
	r.Close()
	got, err := narinfo.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := e.store.SigningKeys(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Verify(rotated.Public()) || !got.Verify(up.Public()) || !got.Verify(e.key.Public()) || len(got.Sigs) != 1+len(keys) {
		t.Errorf("served Sigs %q, want the upstream's and each of the bucket's %d keys'", got.Sigs, len(keys))
	}
	if !objects.Pulled(obj) {
		t.Error("the re-signed narinfo lost its pulled mark")
	}
	if idx, err := e.store.Narinfo(ctx, bucket, hash); err != nil || len(idx.Sigs) != len(got.Sigs) || idx.URL != ni.URL {
		t.Errorf("index record %+v, %v; want the served Sigs and the pulled URL", idx, err)
	} else if !idx.Created.Equal(rec.Created) || !idx.LastAccess.Equal(rec.LastAccess) {
		t.Errorf("index record pulled %v, last used %v; want the times of the pull, %v and %v", idx.Created, idx.LastAccess, rec.Created, rec.LastAccess)
	}
	// A second run changes nothing.
	if res, err := hook.Resign(ctx, bucket, binarycache.ResignOptions{}); err != nil || res.Resigned != 0 {
		t.Errorf("second Resign: %+v, %v; want nothing re-signed", res, err)
	}

	// The same narinfo written without the mark, lacking the new key's
	// signature: its NAR is missing, and Resign says so rather than
	// signing it.
	const other = "1123456789abcdfghijklmnpqrsvwxyz"
	plainNI := *ni
	plainNI.StorePath = "/nix/store/" + other + "-pushed"
	plainNI.Sigs = nil
	plainNI.Sign(up)
	text := []byte(plainNI.String())
	plain := *rec
	plain.Hash, plain.StorePath, plain.Sigs = other, plainNI.StorePath, plainNI.Sigs
	if _, err := e.store.PutObject(ctx, meta.Object{Bucket: bucket, Key: other + ".narinfo", Size: int64(len(text)), ETag: "x", Modified: time.Now(),
		Segments: []meta.Segment{{Size: int64(len(text)), Data: text}}, Narinfo: &plain}, nil); err != nil {
		t.Fatal(err)
	}
	if res, err := hook.Resign(ctx, bucket, binarycache.ResignOptions{}); err == nil {
		t.Errorf("Resign of an unmarked narinfo whose NAR is missing: %+v, no error", res)
	}
}
