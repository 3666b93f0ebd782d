package objects_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

func blobCount(t *testing.T, s *objects.Service) int {
	t.Helper()
	n := 0
	s.Blobs.Walk(context.Background(), func(string, time.Time) error { n++; return nil })
	return n
}

// TestPushWriter: bytes pushed in become an object only at Commit, a
// missing key becomes present (the filters of absent keys learn it), and
// Abort, even after every byte was written, leaves no object and no blob.
func TestPushWriter(t *testing.T) {
	for _, size := range []int{10, 1 << 20} {
		s := newService(t)
		ctx := context.Background()
		body := make([]byte, size)
		rand.Read(body)
		// A miss first, so the absent-key filter is in play.
		if _, _, err := s.Get(ctx, bucket, "nar/a"); !errors.Is(err, meta.ErrNoSuchKey) {
			t.Fatalf("get before: %v", err)
		}
		w, err := s.NewPushWriter(ctx, bucket, "nar/a", int64(size), meta.Headers{ContentType: "application/x-nix-nar"})
		if err != nil {
			t.Fatal(err)
		}
		for p := body; len(p) > 0; p = p[min(len(p), 4096):] {
			if _, err := w.Write(p[:min(len(p), 4096)]); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := s.Get(ctx, bucket, "nar/a"); !errors.Is(err, meta.ErrNoSuchKey) {
			t.Fatalf("visible before Commit: %v", err)
		}
		obj, err := w.Commit(ctx, objects.Conditions{IfNoneMatch: "*"})
		if err != nil {
			t.Fatal(err)
		}
		w.Abort() // after Commit: nothing
		if sum := sha256.Sum256(body); !bytes.Equal(obj.SHA256, sum[:]) || obj.Size != int64(size) {
			t.Errorf("record: size %d sha256 %x", obj.Size, obj.SHA256)
		}
		if got := read(t, s, "nar/a"); !bytes.Equal(got, body) {
			t.Errorf("%d bytes read back as %d", size, len(got))
		}

		before := blobCount(t, s)
		w, err = s.NewPushWriter(ctx, bucket, "nar/b", int64(size), meta.Headers{})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(body)
		w.Abort()
		if _, _, err := s.Get(ctx, bucket, "nar/b"); !errors.Is(err, meta.ErrNoSuchKey) {
			t.Errorf("aborted object is visible: %v", err)
		}
		if n := blobCount(t, s); n != before {
			t.Errorf("%d blobs after Abort, want %d", n, before)
		}
	}
}

// TestPutVouched stores a narinfo with its index record, without the Hook,
// and leaves an existing one alone under If-None-Match.
func TestPutVouched(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	rec := &meta.Narinfo{Bucket: bucket, Hash: "0c2kb3ix3x6w4a5ijfbaqgzkzdnlyrsh", StorePath: "/nix/store/0c2kb3ix3x6w4a5ijfbaqgzkzdnlyrsh-x",
		URL: "nar/x.nar", Compression: "none", NarHash: "sha256:1", NarSize: 1, Created: time.Now()}
	key := rec.Hash + ".narinfo"
	if _, err := s.PutVouched(ctx, bucket, key, meta.Headers{ContentType: "text/x-nix-narinfo"}, []byte("first"), rec, objects.Conditions{IfNoneMatch: "*"}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Meta.(meta.Store).Narinfo(ctx, bucket, rec.Hash); err != nil || got.URL != rec.URL {
		t.Errorf("index record: %+v, %v", got, err)
	}
	_, err := s.PutVouched(ctx, bucket, key, meta.Headers{}, []byte("second"), rec, objects.Conditions{IfNoneMatch: "*"})
	if !errors.Is(err, meta.ErrPreconditionFailed) {
		t.Errorf("second PutVouched: %v, want ErrPreconditionFailed", err)
	}
	if got := read(t, s, key); string(got) != "first" {
		t.Errorf("read %q", got)
	}
	// It is marked pulled; a client's write of the key, even one that
	// sends the note itself, is not.
	if obj, err := s.Meta.Object(ctx, bucket, key); err != nil || !objects.Pulled(obj) {
		t.Errorf("PutVouched object not marked pulled: %+v, %v", obj.Headers, err)
	}
	h := meta.Headers{UserMeta: map[string]string{objects.PulledNote: "upstream"}}
	if _, err := s.Put(ctx, objects.PutInput{Bucket: bucket, Key: key, Body: strings.NewReader("pushed"), Size: 6, Headers: h}); err != nil {
		t.Fatal(err)
	}
	if obj, err := s.Meta.Object(ctx, bucket, key); err != nil || objects.Pulled(obj) {
		t.Errorf("pushed object marked pulled: %+v, %v", obj.Headers, err)
	}
}
