package storagetest

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"

	"github.com/nixbucket/nixbucket/internal/storage"
)

// testCreateSized checks storage.SizedCreator, for backends that offer
// it: blobs of sizes around a part round-trip, uncommitted ones stay
// invisible, a blob given fewer bytes than announced fails to commit and
// one given more fails to write, an aborted one (even fully written)
// leaves nothing, and none of these leaves a blob for Walk.
func testCreateSized(t *testing.T, be storage.Backend, part int) {
	sc, ok := be.(storage.SizedCreator)
	if !ok {
		t.Logf("%T is not a storage.SizedCreator", be)
		return
	}
	ctx := t.Context()
	var kept []string
	for _, size := range []int{0, 1, part, part + 1, 3*part + 7} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := randomBytes(size, uint64(size)+51)
			w, err := sc.CreateSized(ctx, int64(size))
			if err != nil {
				t.Fatalf("CreateSized(%d): %v", size, err)
			}
			// Written in uneven pieces, as a request body arrives.
			for off := 0; off < size; {
				n := min(size-off, 1+off%70000)
				if _, err := w.Write(data[off : off+n]); err != nil {
					w.Abort()
					t.Fatalf("Write at %d: %v", off, err)
				}
				off += n
			}
			id, err := w.Commit(ctx)
			if err != nil {
				t.Fatalf("Commit: %v", err)
			}
			checkEqual(t, "sized blob", get(t, be, id), data)
			kept = append(kept, id)
		})
	}
	// A blob of up to a part and one larger may go differently (s3store:
	// a PutObject, or the one part of a multipart upload).
	for _, size := range []int{part / 2, part + part/2} {
		checkSizedRefusals(t, sc, size, len(kept))
	}
	seen := walk(t, be)
	if len(seen) != len(kept) {
		t.Errorf("Walk finds %d blobs, want the %d committed", len(seen), len(kept))
	}
	for _, id := range kept {
		if _, ok := seen[id]; !ok {
			t.Errorf("Walk lacks committed blob %s", id)
		}
	}
}

// checkSizedRefusals checks that a blob of size given a byte too few fails
// to commit, one given a byte too many fails to write, and an aborted one,
// even fully written, leaves nothing: Walk still finds only the kept
// blobs.
func checkSizedRefusals(t *testing.T, sc storage.SizedCreator, size, kept int) {
	t.Helper()
	ctx := t.Context()
	be := storage.Backend(sc)
	data := randomBytes(size, 77)
	short, err := sc.CreateSized(ctx, int64(size))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := short.Write(data[:size-1]); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if id, err := short.Commit(ctx); err == nil {
		t.Errorf("Commit of %d bytes of %d announced: blob %s, want an error", size-1, size, id)
	}
	if n := len(walk(t, be)); n != kept {
		t.Errorf("after a short write: Walk finds %d blobs, want the %d committed", n, kept)
	}
	long, err := sc.CreateSized(ctx, int64(size))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := long.Write(data); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if _, err := long.Write([]byte{1}); err == nil {
		t.Error("Write past the announced size: no error")
	}
	long.Abort()
	if n := len(walk(t, be)); n != kept {
		t.Errorf("after a long write: Walk finds %d blobs, want the %d committed", n, kept)
	}
	full, err := sc.CreateSized(ctx, int64(size))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := full.Write(data); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := full.Abort(); err != nil {
		t.Fatalf("Abort of a fully written blob: %v", err)
	}
}

// testMD5Committer checks storage.MD5Committer, for writers that offer
// it: a blob committed with the caller's MD5 reads back, and one
// committed with a wrong MD5 fails and leaves nothing, whether it was
// created with Create or (of either size class) with CreateSized.
func testMD5Committer(t *testing.T, be storage.Backend, part int) {
	ctx := t.Context()
	type maker struct {
		name string
		size int
		new  func(size int) (storage.Writer, error)
	}
	makers := []maker{{"Create", part / 2, func(int) (storage.Writer, error) { return be.Create(ctx) }}}
	if sc, ok := be.(storage.SizedCreator); ok {
		sized := func(size int) (storage.Writer, error) { return sc.CreateSized(ctx, int64(size)) }
		makers = append(makers, maker{"CreateSized", part / 2, sized}, maker{"CreateSized", part + part/2, sized})
	}
	var kept []string
	for _, m := range makers {
		for _, wrong := range []bool{true, false} {
			data := randomBytes(m.size, uint64(m.size)+91)
			w, err := m.new(m.size)
			if err != nil {
				t.Fatalf("%s(%d): %v", m.name, m.size, err)
			}
			mc, ok := w.(storage.MD5Committer)
			if !ok {
				w.Abort()
				t.Logf("%s gives a %T, not a storage.MD5Committer", m.name, w)
				continue
			}
			mc.SkipMD5()
			if _, err := w.Write(data); err != nil {
				w.Abort()
				t.Fatalf("%s(%d): Write: %v", m.name, m.size, err)
			}
			sum := md5.Sum(data)
			if wrong {
				sum[0] ^= 1
			}
			id, err := mc.CommitMD5(ctx, sum[:])
			w.Abort()
			switch {
			case wrong && err == nil:
				t.Errorf("%s(%d): CommitMD5 with a wrong MD5 succeeded (blob %s)", m.name, m.size, id)
			case !wrong && err != nil:
				t.Errorf("%s(%d): CommitMD5: %v", m.name, m.size, err)
			case !wrong:
				checkEqual(t, "blob committed with the caller's MD5", get(t, be, id), data)
				kept = append(kept, id)
			}
		}
	}
	wantWalk(t, be, kept...)
	for _, id := range kept {
		be.Delete(ctx, id)
	}
}

// testStoreVerifier checks storage.StoreVerifier, for sized writers that
// offer it and whose store agrees to check: a blob whose bytes have the
// SHA-256 announced commits and gives their MD5; one whose bytes do not
// fails with storage.ErrSHA256Mismatch, and one cut short fails too,
// both leaving nothing for Open or Walk.
func testStoreVerifier(t *testing.T, be storage.Backend, part int) {
	sc, ok := be.(storage.SizedCreator)
	if !ok {
		t.Logf("%T is not a storage.SizedCreator", be)
		return
	}
	ctx := t.Context()
	var kept []string
	for _, size := range []int{1, part + part/2} {
		for _, c := range []string{"right", "wrong", "short"} {
			data := randomBytes(size, uint64(size)+117)
			w, err := sc.CreateSized(ctx, int64(size))
			if err != nil {
				t.Fatalf("CreateSized(%d): %v", size, err)
			}
			sv, ok := w.(storage.StoreVerifier)
			sum := sha256.Sum256(data)
			if c == "wrong" {
				sum[0] ^= 1
			}
			if !ok || !sv.StoreVerifies(ctx, sum[:]) {
				w.Abort()
				t.Logf("CreateSized(%d) gives a %T whose store does not verify", size, w)
				return
			}
			body := data
			if c == "short" {
				body = data[:size-1]
			}
			if _, err := w.Write(body); err != nil {
				w.Abort()
				t.Fatalf("%s, %d bytes: Write: %v", c, size, err)
			}
			id, gotMD5, err := sv.CommitVerified(ctx)
			w.Abort()
			switch {
			case c == "right" && err != nil:
				t.Errorf("%d bytes: CommitVerified: %v", size, err)
			case c == "right":
				if want := md5.Sum(data); !bytes.Equal(gotMD5, want[:]) {
					t.Errorf("%d bytes: CommitVerified gave MD5 %x, want %x", size, gotMD5, want)
				}
				checkEqual(t, "blob the store verified", get(t, be, id), data)
				kept = append(kept, id)
			case err == nil:
				t.Errorf("%s, %d bytes: CommitVerified succeeded (blob %s)", c, size, id)
			case c == "wrong" && !errors.Is(err, storage.ErrSHA256Mismatch):
				t.Errorf("wrong SHA-256, %d bytes: CommitVerified = %v, want storage.ErrSHA256Mismatch", size, err)
			}
		}
	}
	wantWalk(t, be, kept...)
	for _, id := range kept {
		be.Delete(ctx, id)
	}
}
