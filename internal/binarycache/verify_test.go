package binarycache_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/storage"
)

// countingBlobs counts the blobs opened for reading.
type countingBlobs struct {
	storage.Backend
	n atomic.Int64
}

func (c *countingBlobs) Open(ctx context.Context, id string) (storage.Blob, error) {
	c.n.Add(1)
	return c.Backend.Open(ctx, id)
}

// narBytes is a NAR-sized body: text and random bytes, larger than the
// inline limit so it lives in a blob.
func narBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range b {
		if i%4 == 0 {
			b[i] = byte(r.Uint32())
		} else {
			b[i] = "nix store "[i%10]
		}
	}
	return b
}

// compressNar compresses as Nix would for a narinfo Compression.
func compressNar(t *testing.T, method string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	switch method {
	case "none":
		return data
	case "xz":
		w, _ := xz.NewWriter(&b)
		w.Write(data)
		w.Close()
	case "zstd":
		w, _ := zstd.NewWriter(&b)
		w.Write(data)
		w.Close()
	case "gzip":
		w := gzip.NewWriter(&b)
		w.Write(data)
		w.Close()
	case "br":
		w := brotli.NewWriter(&b)
		w.Write(data)
		w.Close()
	case "bzip2":
		if _, err := exec.LookPath("bzip2"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("bzip2 not installed")
			}
			t.Skip("bzip2 not installed")
		}
		cmd := exec.Command("bzip2", "-c")
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return out
	default:
		t.Fatalf("no compressor for %s", method)
	}
	return b.Bytes()
}

// putNar uploads a NAR compressed with method and returns a correct
// narinfo for it.
func (e *env) putNar(t *testing.T, method string, nar []byte) *narinfo.NarInfo {
	t.Helper()
	file := compressNar(t, method, nar)
	fileSum, narSum := sha256.Sum256(file), sha256.Sum256(nar)
	url := "nar/" + nixhash.SHA256(fileSum).Nix32() + ".nar." + method
	if _, err := e.put(t, url, file, ""); err != nil {
		t.Fatal(err)
	}
	return &narinfo.NarInfo{
		StorePath: "/nix/store/" + hash + "-hello", URL: url, Compression: method,
		FileHash: nixhash.SHA256(fileSum).String(), FileSize: uint64(len(file)),
		NarHash: nixhash.SHA256(narSum).String(), NarSize: uint64(len(nar)),
	}
}

func (e *env) signed(t *testing.T) bool {
	t.Helper()
	_, r, err := e.objs.Get(context.Background(), bucket, hash+".narinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var b bytes.Buffer
	b.ReadFrom(r)
	n, err := narinfo.Parse(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return n.Verify(e.key.Public())
}

// TestNarHashChecked: a narinfo whose NarHash or NarSize does not match
// what its NAR decodes to is refused, naming both hashes, in every
// compression Nix writes; a matching one is signed.
func TestNarHashChecked(t *testing.T) {
	nar := narBytes(300 << 10)
	for _, method := range []string{"none", "xz", "zstd", "bzip2", "gzip", "br"} {
		t.Run(method, func(t *testing.T) {
			e := newEnv(t)
			good := e.putNar(t, method, nar)
			other := sha256.Sum256([]byte("another NAR"))
			wrongHash := *good
			wrongHash.NarHash = nixhash.SHA256(other).String()
			_, err := e.put(t, hash+".narinfo", []byte(wrongHash.String()), "")
			if !errors.Is(err, objects.ErrRejected) || !strings.Contains(err.Error(), "NarHash") ||
				!strings.Contains(err.Error(), good.NarHash) || !strings.Contains(err.Error(), wrongHash.NarHash) {
				t.Fatalf("wrong NarHash: %v, want a refusal naming both hashes", err)
			}
			for _, size := range []uint64{good.NarSize - 1, good.NarSize + 1} {
				wrongSize := *good
				wrongSize.NarSize = size
				if _, err := e.put(t, hash+".narinfo", []byte(wrongSize.String()), ""); !errors.Is(err, objects.ErrRejected) || !strings.Contains(err.Error(), "NarSize") {
					t.Fatalf("NarSize %d of %d: %v, want a refusal", size, good.NarSize, err)
				}
			}
			if _, err := e.objs.Head(context.Background(), bucket, hash+".narinfo"); !errors.Is(err, meta.ErrNoSuchKey) {
				t.Fatalf("a refused narinfo was stored: %v", err)
			}
			if _, err := e.put(t, hash+".narinfo", []byte(good.String()), ""); err != nil {
				t.Fatalf("correct narinfo: %v", err)
			}
			if !e.signed(t) {
				t.Fatal("a checked narinfo is not signed")
			}
		})
	}
}

// TestNarDecodedOnce: what a NAR decodes to is kept with it, so putting
// its narinfo again (or a wrong one) does not read the NAR again.
func TestNarDecodedOnce(t *testing.T) {
	e := newEnv(t)
	good := e.putNar(t, "zstd", narBytes(300<<10))
	if _, err := e.put(t, hash+".narinfo", []byte(good.String()), ""); err != nil {
		t.Fatal(err)
	}
	obj, err := e.objs.Head(context.Background(), bucket, good.URL)
	if err != nil {
		t.Fatal(err)
	}
	note := obj.Headers.UserMeta[objects.NotePrefix+"nar"]
	if want := "zstd " + good.NarHash + " " + strconv.FormatUint(good.NarSize, 10); note != want {
		t.Fatalf("note %q, want %q", note, want)
	}
	before := e.opens.n.Load()
	for range 3 {
		if _, err := e.put(t, hash+".narinfo", []byte(good.String()), ""); err != nil {
			t.Fatal(err)
		}
	}
	wrong := *good
	wrong.NarSize++
	if _, err := e.put(t, hash+".narinfo", []byte(wrong.String()), ""); !errors.Is(err, objects.ErrRejected) {
		t.Fatalf("wrong NarSize after the note: %v", err)
	}
	if n := e.opens.n.Load() - before; n != 0 {
		t.Fatalf("the NAR was opened %d times after it had been decoded once", n)
	}
}

// TestNarNoteNotForgeable: a client cannot upload what the server keeps
// about a NAR's decoding as x-amz-meta-nixbucket-nar.
func TestNarNoteNotForgeable(t *testing.T) {
	e := newEnv(t)
	nar := narBytes(100 << 10)
	file := compressNar(t, "zstd", nar)
	fileSum := sha256.Sum256(file)
	lie := sha256.Sum256([]byte("lie"))
	url := "nar/" + nixhash.SHA256(fileSum).Nix32() + ".nar.zst"
	forged := "zstd " + nixhash.SHA256(lie).String() + " 3"
	obj, err := e.putHeaders(t, url, file, meta.Headers{UserMeta: map[string]string{objects.NotePrefix + "nar": forged, "other": "kept"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := obj.Headers.UserMeta[objects.NotePrefix+"nar"]; ok || obj.Headers.UserMeta["other"] != "kept" {
		t.Fatalf("stored user metadata %v", obj.Headers.UserMeta)
	}
	ni := &narinfo.NarInfo{
		StorePath: "/nix/store/" + hash + "-hello", URL: url, Compression: "zstd",
		FileHash: nixhash.SHA256(fileSum).String(), FileSize: uint64(len(file)),
		NarHash: nixhash.SHA256(lie).String(), NarSize: 3,
	}
	if _, err := e.put(t, hash+".narinfo", []byte(ni.String()), ""); !errors.Is(err, objects.ErrRejected) {
		t.Fatalf("narinfo matching a forged note: %v, want a refusal", err)
	}
}

// TestUncheckableCompressionUnsigned: a NAR in a compression the server
// cannot decode (lz4) is stored, but not signed by it.
func TestUncheckableCompressionUnsigned(t *testing.T) {
	e := newEnv(t)
	ni := e.putNar(t, "none", narBytes(50<<10))
	ni.Compression = "lz4"
	if _, err := e.put(t, hash+".narinfo", []byte(ni.String()), ""); err != nil {
		t.Fatal(err)
	}
	if e.signed(t) {
		t.Fatal("the server signed a narinfo whose NAR it could not check")
	}
}

// TestRefusalHidesUnreadableNar: a writer who may not read the NAR its
// narinfo names learns neither its size, nor its hash, nor whether it
// exists, from the refusal; one who may read it gets the details.
func TestRefusalHidesUnreadableNar(t *testing.T) {
	e := newEnv(t)
	good := e.putNar(t, "zstd", narBytes(100<<10))
	obj, err := e.objs.Head(context.Background(), bucket, good.URL)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{strconv.FormatInt(obj.Size, 10), nixhash.SHA256(obj.SHA256).String(), good.NarHash, strconv.FormatUint(good.NarSize, 10)}
	other := sha256.Sum256([]byte("guess"))
	cases := map[string]func(n *narinfo.NarInfo){
		"size":     func(n *narinfo.NarInfo) { n.FileSize++ },
		"hash":     func(n *narinfo.NarInfo) { n.FileHash = nixhash.SHA256(other).String() },
		"no size":  func(n *narinfo.NarInfo) { n.FileSize = 0 },
		"no hash":  func(n *narinfo.NarInfo) { n.FileHash = "" },
		"missing":  func(n *narinfo.NarInfo) { n.URL = "nar/missing.nar.zst" },
		"nar hash": func(n *narinfo.NarInfo) { n.NarHash = nixhash.SHA256(other).String() },
		"nar size": func(n *narinfo.NarInfo) { n.NarSize = 7 },
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			n := *good
			edit(&n)
			e.mayRead = func(string) bool { return false }
			_, err := e.put(t, hash+".narinfo", []byte(n.String()), "")
			if !errors.Is(err, objects.ErrRejected) {
				t.Fatalf("err = %v, want a refusal", err)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("refusal %q reveals %s", err, s)
				}
			}
			e.mayRead = nil
			_, err = e.put(t, hash+".narinfo", []byte(n.String()), "")
			if name == "no size" || name == "no hash" {
				if err != nil {
					t.Fatalf("a reader may leave %s out: %v", name, err)
				}
				return
			}
			if !errors.Is(err, objects.ErrRejected) {
				t.Fatalf("reader: err = %v, want a refusal", err)
			}
			revealed := false
			for _, s := range secrets {
				revealed = revealed || strings.Contains(err.Error(), s)
			}
			if !revealed && (name == "size" || name == "hash" || name == "nar hash") {
				t.Fatalf("a reader's refusal %q names nothing of the NAR", err)
			}
		})
	}
	// The right claims still pass for a writer who may not read.
	e.mayRead = func(string) bool { return false }
	if _, err := e.put(t, hash+".narinfo", []byte(good.String()), ""); err != nil {
		t.Fatalf("correct narinfo from a writer who may not read the NAR: %v", err)
	}
}

// TestMultipartHashKept: the SHA-256 of a multipart NAR, unknown from its
// upload, is computed for the first narinfo naming it and kept.
func TestMultipartHashKept(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	nar := narBytes(objects.MinPartSize + 1000)
	file := compressNar(t, "none", nar)
	sum := sha256.Sum256(file)
	url := "nar/" + nixhash.SHA256(sum).Nix32() + ".nar"
	u, err := e.objs.CreateUpload(ctx, bucket, url, meta.Headers{}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	var parts []objects.CompletedPart
	for i, p := range [][]byte{file[:objects.MinPartSize], file[objects.MinPartSize:]} {
		part, err := e.objs.UploadPart(ctx, objects.PartInput{Bucket: bucket, Key: url, UploadID: u.ID, Number: i + 1, Body: bytes.NewReader(p), Size: int64(len(p))})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, objects.CompletedPart{Number: i + 1, ETag: part.ETag})
	}
	if _, err := e.objs.CompleteUpload(ctx, bucket, url, u.ID, parts, objects.Conditions{}, objects.CompleteChecksum{}); err != nil {
		t.Fatal(err)
	}
	ni := &narinfo.NarInfo{
		StorePath: "/nix/store/" + hash + "-hello", URL: url, Compression: "none",
		FileHash: nixhash.SHA256(sum).String(), FileSize: uint64(len(file)),
		NarHash: nixhash.SHA256(sum).String(), NarSize: uint64(len(file)),
	}
	if _, err := e.put(t, hash+".narinfo", []byte(ni.String()), ""); err != nil {
		t.Fatal(err)
	}
	rec, err := e.store.Object(ctx, bucket, url)
	if err != nil || !bytes.Equal(rec.SHA256, sum[:]) {
		t.Fatalf("multipart NAR record SHA-256 %x, %v; want %x", rec.SHA256, err, sum)
	}
	before := e.opens.n.Load()
	if _, err := e.put(t, hash+".narinfo", []byte(ni.String()), ""); err != nil {
		t.Fatal(err)
	}
	if n := e.opens.n.Load() - before; n != 0 {
		t.Fatalf("the multipart NAR was read again (%d opens)", n)
	}
	// Its bytes are intact after the record was rewritten.
	_, r, err := e.objs.Get(ctx, bucket, url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := sha256.New()
	if _, err := r.WriteTo(h); err != nil || !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatalf("multipart NAR after Annotate: %v", err)
	}
}

// xzDictBomb is an 80-byte xz stream whose block asks for a 4 GiB
// dictionary.
func xzDictBomb() []byte {
	var b bytes.Buffer
	b.Write([]byte{0xfd, '7', 'z', 'X', 'Z', 0})
	flags := []byte{0, 0x01}
	b.Write(flags)
	binary.Write(&b, binary.LittleEndian, crc32.ChecksumIEEE(flags))
	hdr := []byte{0x02, 0x00, 0x21, 0x01, 40, 0, 0, 0}
	b.Write(hdr)
	binary.Write(&b, binary.LittleEndian, crc32.ChecksumIEEE(hdr))
	b.Write([]byte{0x01, 0x00, 0x03, 'a', 'b', 'c', 'd', 0x00})
	for b.Len() < 80 {
		b.WriteByte(0)
	}
	return b.Bytes()
}

// TestBombsRefused: a narinfo body or a NAR that asks its decoder for a
// huge window, or decodes to far more than it may, is refused quickly.
func TestBombsRefused(t *testing.T) {
	e := newEnv(t)
	zeros := make([]byte, 100<<20)
	zstdWindow := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 21 << 3, 5<<3 | 1, 0, 0, 'h', 'e', 'l', 'l', 'o'}
	bodies := map[string][]byte{
		"xz":   xzDictBomb(),
		"zstd": zstdWindow,
		"gzip": compressNar(t, "gzip", zeros),
		"br":   compressNar(t, "br", zeros),
	}
	if bz, err := os.ReadFile("../nix/codec/testdata/zeros-200M.bz2"); err == nil {
		bodies["bzip2"] = bz
	} else {
		t.Fatal(err)
	}
	for enc, body := range bodies {
		t.Run("narinfo-"+enc, func(t *testing.T) {
			start := time.Now()
			_, err := e.put(t, hash+".narinfo", body, enc)
			if !errors.Is(err, objects.ErrRejected) {
				t.Fatalf("err = %v, want a refusal", err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("refusing took %v", took)
			}
		})
	}
	for _, method := range []string{"xz", "zstd"} {
		t.Run("nar-"+method, func(t *testing.T) {
			file := bodies[method]
			sum := sha256.Sum256(file)
			url := "nar/" + nixhash.SHA256(sum).Nix32() + ".nar." + method
			if _, err := e.put(t, url, file, ""); err != nil {
				t.Fatal(err)
			}
			ni := &narinfo.NarInfo{
				StorePath: "/nix/store/" + hash + "-hello", URL: url, Compression: method,
				FileHash: nixhash.SHA256(sum).String(), FileSize: uint64(len(file)),
				NarHash: nixhash.SHA256(sum).String(), NarSize: 5,
			}
			if _, err := e.put(t, hash+".narinfo", []byte(ni.String()), ""); !errors.Is(err, objects.ErrRejected) || !strings.Contains(err.Error(), "limit") {
				t.Fatalf("err = %v, want a refusal for the window", err)
			}
		})
	}
}
