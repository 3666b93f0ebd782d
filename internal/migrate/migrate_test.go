package migrate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/nixbucket/nixbucket/internal/cors"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/postgres"
	"github.com/nixbucket/nixbucket/internal/meta/sqlite"
	"github.com/nixbucket/nixbucket/internal/storage"
	"github.com/nixbucket/nixbucket/internal/storage/localfs"
	"github.com/nixbucket/nixbucket/internal/storage/s3store"
	"github.com/nixbucket/nixbucket/internal/storage/storagetest"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

func TestMain(m *testing.M) {
	code := testenv.RunS3(m)
	testenv.StopPostgres()
	os.Exit(code)
}

// partSize is S3's smallest part: the big blob spans two.
const partSize = 5 << 20

// source is an embedded install built for the tests, and what it holds.
type source struct {
	meta  *sqlite.Store
	blobs *localfs.Backend
	data  map[string][]byte // blob ID → bytes
	path  string            // the narinfo's store path
}

// hash32 is a store path hash (32 characters of Nix's base-32); depHash
// one that sorts before it.
const (
	hash32  = "0123456789abcdfghijklmnpqrsvwxyz"
	depHash = "00000000000000000000000000000000"
)

// newSource makes a data directory holding one of each kind of record:
// settings, a user with a policy, keys (one disabled), a token, two
// buckets with a policy, cache settings, retention, lifecycle rules, a
// CORS configuration and a signing key, objects (multi-segment, inline,
// one blob larger than an S3 part, a blob shared by two objects, a
// narinfo with its index record), an upload with two parts, and a pin.
func newSource(t *testing.T) *source {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	m, err := sqlite.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	b, err := localfs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	s := &source{meta: m, blobs: b, data: map[string][]byte{}, path: "/nix/store/" + hash32 + "-hello-2.12"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Nanoseconds: PostgreSQL keeps microseconds, which the copy must
	// take as the same time.
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)

	must(m.SetSetting(ctx, "account", "123456789012"))
	must(m.SetSetting(ctx, "last-region", "eu-west-2"))
	must(m.SaveTraffic(ctx, []meta.TrafficHour{
		{Node: "n1", Bucket: "cache", Hour: 490000, Requests: 5, BytesIn: 1, BytesOut: 2},
		{Node: "n2", Bucket: "(other)", Hour: 490001, Requests: 1},
	}, 0))
	must(m.PutAccessKey(ctx, meta.AccessKey{ID: "NBROOTKEY0000000001", Secret: "root-secret", User: rootUser, Created: at, Enabled: true}))
	must(m.CreateUser(ctx, meta.User{Name: "alice", Created: at, Policy: []byte(`{"Statement":[]}`)}))
	must(m.PutAccessKey(ctx, meta.AccessKey{ID: "NBALICE000000000001", Secret: "alice-secret", User: "alice", Created: at, Enabled: true}))
	must(m.PutAccessKey(ctx, meta.AccessKey{ID: "NBALICE000000000002", Secret: "old-secret", User: "alice", Created: at, Enabled: false}))
	sum := sha256.Sum256([]byte("token secret"))
	must(m.PutToken(ctx, meta.Token{ID: "tok1", User: "alice", Hash: sum[:], Created: at, Expires: at.Add(24 * time.Hour), Policy: []byte(`{"x":1}`)}))

	must(m.CreateBucket(ctx, meta.Bucket{Name: "cache", Created: at}))
	must(m.CreateBucket(ctx, meta.Bucket{Name: "empty", Created: at.Add(time.Second)}))
	must(m.SetBucketPolicy(ctx, "cache", []byte(`{"Statement":[{"Effect":"Allow"}]}`)))
	must(m.SetCacheSettings(ctx, "cache", meta.CacheSettings{Priority: 30, WantMassQuery: false}))
	must(m.SetRetention(ctx, "cache", meta.Retention{KeepDays: 30, MaxSize: 1 << 30, GC: true, Grace: 2 * time.Hour}))
	must(m.SetLifecycleRules(ctx, "cache", []meta.LifecycleRule{{ID: "abort", Enabled: true, AbortUploadsDays: 3}}))
	must(m.AddSigningKey(ctx, meta.SigningKey{Bucket: "cache", Name: "cache-1", Secret: "cache-1:c2VjcmV0", Created: at}))
	corsConfig, err := cors.Parse([]byte(`<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>https://a.example</AllowedOrigin></CORSRule></CORSConfiguration>`))
	must(err)
	must((&cors.Service{Store: m}).Set(ctx, "cache", corsConfig))

	big := s.blob(t, 6<<20+17, 1) // more than one part of the S3 store
	a, bb := s.blob(t, 1000, 2), s.blob(t, 70000, 3)
	nar := s.blob(t, 4096, 4)
	objs := []meta.Object{
		{Key: "big", Segments: []meta.Segment{{Blob: big, Size: 6<<20 + 17}}, SHA256: []byte("sum")},
		{Key: "dir/ü multi", PartsCount: 2, ETag: "abc-2", Segments: []meta.Segment{{Blob: a, Size: 1000}, {Blob: bb, Size: 70000}},
			Headers: meta.Headers{ContentType: "text/plain", UserMeta: map[string]string{"k": "v"}}},
		{Key: "inline", Segments: []meta.Segment{{Size: 5, Data: []byte("hello")}}, Checksum: "AAAA", ChecksumAlgorithm: "CRC32"},
		{Key: "shared//copy", Segments: []meta.Segment{{Blob: a, Size: 1000}}},
		{Key: "nar/x.nar", Segments: []meta.Segment{{Blob: nar, Size: 4096}}},
		{Key: hash32 + ".narinfo", Segments: []meta.Segment{{Size: 3, Data: []byte("ni!")}}, Narinfo: &meta.Narinfo{
			Bucket: "cache", Hash: hash32, StorePath: s.path, URL: "nar/x.nar", Compression: "none",
			FileHash: "sha256:f", FileSize: 4096, NarHash: "sha256:n", NarSize: 4096, References: []string{hash32 + "-hello-2.12"},
			Sigs: []string{"cache-1:sig"}, Created: at, LastAccess: at.Add(time.Hour),
		}},
	}
	for i, o := range objs {
		o.Bucket, o.Modified = "cache", at.Add(time.Duration(i)*time.Millisecond)
		if o.ETag == "" {
			o.ETag = "etag"
		}
		for _, seg := range o.Segments {
			o.Size += seg.Size
		}
		if _, err := m.PutObject(ctx, o, nil); err != nil {
			t.Fatalf("PutObject %s: %v", o.Key, err)
		}
	}
	must(m.PutPin(ctx, meta.Pin{Bucket: "cache", Name: "release", Paths: []string{s.path}, Keep: 3, Updated: at}))

	must(m.CreateUpload(ctx, meta.Upload{Bucket: "cache", Key: "in/progress", ID: "0001-upload", Initiated: at,
		Headers: meta.Headers{ContentType: "application/x-nix-nar"}, ChecksumAlgorithm: "SHA256"}))
	for n := 1; n <= 2; n++ {
		id := s.blob(t, 3000*n, uint64(10+n))
		if _, err := m.PutPart(ctx, "cache", "in/progress", "0001-upload", meta.Part{
			Number: n, Size: int64(3000 * n), ETag: "part", Modified: at, Checksum: "c", Segment: meta.Segment{Blob: id, Size: int64(3000 * n)},
		}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// blob stores n pseudo-random bytes as a blob of the source.
func (s *source) blob(t *testing.T, n int, seed uint64) string {
	t.Helper()
	data := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(data)
	id := storagetest.Put(t, s.blobs, data)
	s.data[id] = data
	return id
}

// newDest opens an empty PostgreSQL store and a bucket of the S3 store.
func newDest(t *testing.T) (*postgres.Store, *s3store.Backend) {
	t.Helper()
	m, err := postgres.Open(t.Context(), testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	st := testenv.S3Store(t)
	b, err := s3store.Open(t.Context(), s3store.Config{
		Bucket: st.NewBucket(t), Prefix: "cache", Endpoint: st.Endpoint, Region: st.Region, PathStyle: true, PartSize: partSize,
	}, s3store.Options{Credentials: credentials.NewStaticCredentialsProvider(st.AccessKey, st.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return m, b
}

var errInterrupted = errors.New("interrupted by the test")

// failingBlobs fails CreateAt once it has let left blobs through.
type failingBlobs struct {
	storage.Placer
	left atomic.Int64
}

func (f *failingBlobs) CreateAt(ctx context.Context, id string) (storage.Writer, error) {
	if f.left.Add(-1) < 0 {
		return nil, errInterrupted
	}
	return f.Placer.CreateAt(ctx, id)
}

// failingMeta fails PutObject once it has let left objects through.
type failingMeta struct {
	meta.Store
	left atomic.Int64
}

func (f *failingMeta) PutObject(ctx context.Context, obj meta.Object, check meta.Check) ([]meta.Segment, error) {
	if f.left.Add(-1) < 0 {
		return nil, errInterrupted
	}
	return f.Store.PutObject(ctx, obj, check)
}

// TestCopy migrates an embedded install to PostgreSQL and versitygw in
// runs cut short twice (once between blobs, once between a blob and its
// record), then finishes it, checks that everything arrived with its IDs,
// secrets and times, and that another run copies nothing.
func TestCopy(t *testing.T) {
	ctx := t.Context()
	src := newSource(t)
	dm, db := newDest(t)
	var out bytes.Buffer
	run := func(to Stores) (*Report, error) {
		c := &Copier{From: Stores{Meta: src.meta, Blobs: src.blobs}, To: to, Source: "test", Jobs: 1, Hashes: true,
			Progress: &out, ProgressEvery: time.Nanosecond}
		return c.Run(ctx)
	}

	fb := &failingBlobs{Placer: db}
	fb.left.Store(2)
	if _, err := run(Stores{Meta: dm, Blobs: fb}); !errors.Is(err, errInterrupted) {
		t.Fatalf("run cut short between blobs: %v, want the interruption", err)
	}
	if v, _ := dm.Setting(ctx, meta.SettingMigrating); v == "" {
		t.Errorf("after a run cut short, %s is not set", meta.SettingMigrating)
	}
	fm := &failingMeta{Store: dm}
	fm.left.Store(0) // the next object's blobs are copied, its record is not
	if _, err := run(Stores{Meta: fm, Blobs: db}); !errors.Is(err, errInterrupted) {
		t.Fatalf("run cut short between a blob and its record: %v, want the interruption", err)
	}

	rep, err := run(Stores{Meta: dm, Blobs: db})
	if err != nil {
		t.Fatalf("run to the end: %v\n%s", err, out.String())
	}
	t.Logf("third run:\n%s", rep)
	if rep.Present["blobs"] < 3 || rep.Copied["blobs"] == 0 || rep.Copied["objects"] == 0 || rep.Present["objects"] == 0 {
		t.Errorf("third run copied %v and found %v: want it to find the blobs and objects of the runs cut short, and copy the rest", rep.Copied, rep.Present)
	}
	if v := rep.Verified; v.Buckets != 2 || v.Objects != 6 || v.Uploads != 1 || v.Parts != 2 || v.Blobs != 7 || !v.Hashed {
		t.Errorf("verified %+v, want 2 buckets, 6 objects, 1 upload with 2 parts, 7 blobs (one twice) hashed", v)
	}
	if v, _ := dm.Setting(ctx, meta.SettingMigrating); v != "" {
		t.Errorf("after a verified copy, %s is %q", meta.SettingMigrating, v)
	}
	for _, phase := range []string{
		"migrate: settings\n", "migrate: objects of bucket cache: 6 to copy or check\n",
		"migrate: objects of bucket cache: 3 of 6 (1 copied, 2 already there, ", // a periodic line
		"migrate: objects of bucket cache: 6 of 6 (4 copied, 2 already there, 4.0 KiB of blobs copied)\n",
		"migrate: verifying bucket cache: 6 objects\n", "migrate: verifying bucket cache: 6 of 6 objects, 5 blobs (6.1 MiB) checked\n",
	} {
		if !strings.Contains(out.String(), phase) {
			t.Errorf("progress lacks %q:\n%s", phase, out.String())
		}
	}
	checkDest(t, src, dm, db)

	out.Reset()
	rep, err = run(Stores{Meta: dm, Blobs: db})
	if err != nil {
		t.Fatalf("second full run: %v", err)
	}
	if !rep.Nothing() || !strings.HasPrefix(rep.String(), "nothing new to copy") {
		t.Errorf("a run after a complete copy copied %v:\n%s", rep.Copied, rep)
	}
	if rep.Present["objects"] != 6 || rep.Present["access keys"] != 3 || rep.Present["parts"] != 2 || rep.Present["blobs"] != 7 {
		t.Errorf("a run after a complete copy found %v", rep.Present)
	}

	// A blob gone from the destination comes back, and nothing else moves.
	nar, err := src.meta.Object(ctx, "cache", "nar/x.nar")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(ctx, nar.Segments[0].Blob); err != nil {
		t.Fatal(err)
	}
	rep, err = run(Stores{Meta: dm, Blobs: db})
	if err != nil {
		t.Fatalf("run after a blob was deleted from the destination: %v", err)
	}
	if counts(rep.Copied) != "1 blobs, 4.0 KiB" {
		t.Errorf("run after a blob was deleted from the destination copied %v, want the blob alone", rep.Copied)
	}
	checkDest(t, src, dm, db)
}

// checkDest checks what arrived: records with their IDs, secrets and
// times, and blobs with their bytes.
func checkDest(t *testing.T, src *source, dm meta.Store, db storage.Backend) {
	t.Helper()
	ctx := t.Context()
	var traffic []meta.TrafficHour
	if err := dm.LoadTraffic(ctx, "", 0, func(r meta.TrafficHour) error { traffic = append(traffic, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(traffic) != 2 || traffic[0] != (meta.TrafficHour{Node: "n1", Bucket: "cache", Hour: 490000, Requests: 5, BytesIn: 1, BytesOut: 2}) {
		t.Errorf("traffic counters in the destination: %+v", traffic)
	}
	if v, _ := dm.Setting(ctx, "account"); v != "123456789012" {
		t.Errorf("account %q", v)
	}
	k, err := dm.AccessKey(ctx, "NBALICE000000000002")
	if err != nil || k.Secret != "old-secret" || k.Enabled || k.User != "alice" {
		t.Errorf("disabled key: %+v, %v", k, err)
	}
	tok, err := dm.Token(ctx, "tok1")
	if err != nil || tok.User != "alice" || string(tok.Policy) != `{"x":1}` || tok.Expires.IsZero() {
		t.Errorf("token: %+v, %v", tok, err)
	}
	keys, err := dm.SigningKeys(ctx, "cache")
	if err != nil || len(keys) != 1 || keys[0].Secret != "cache-1:c2VjcmV0" {
		t.Errorf("signing keys: %+v, %v", keys, err)
	}
	if cs, _ := dm.CacheSettings(ctx, "cache"); cs.Priority != 30 || cs.WantMassQuery {
		t.Errorf("cache settings %+v", cs)
	}
	if r, _ := dm.Retention(ctx, "cache"); r.KeepDays != 30 || !r.GC || r.Grace != 2*time.Hour {
		t.Errorf("retention %+v", r)
	}
	// The CORS configuration (a setting, stamped with the bucket's
	// creation time, which the copy keeps).
	if c, err := (&cors.Service{Store: dm.(cors.Store)}).Config(ctx, "cache"); err != nil || c == nil || c.Rules[0].AllowedOrigins[0] != "https://a.example" {
		t.Errorf("CORS configuration %+v, %v", c, err)
	}
	ni, err := dm.Narinfo(ctx, "cache", hash32)
	want, _ := src.meta.Narinfo(ctx, "cache", hash32)
	if err != nil || !sameNarinfo(&ni, &want) {
		t.Errorf("narinfo record %+v, %v; want %+v", ni, err, want)
	}
	pins, err := dm.Pins(ctx, "cache")
	if err != nil || len(pins) != 1 || pins[0].Keep != 3 || pins[0].Paths[0] != src.path {
		t.Errorf("pins %+v, %v", pins, err)
	}
	u, err := dm.Upload(ctx, "cache", "in/progress", "0001-upload")
	if err != nil || u.ChecksumAlgorithm != "SHA256" || !sameTime(u.Initiated, time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)) {
		t.Errorf("upload %+v, %v", u, err)
	}
	for id, data := range src.data {
		b, err := db.Open(ctx, id)
		if err != nil {
			t.Errorf("blob %s in the destination: %v", id, err)
			continue
		}
		got, err := io.ReadAll(b)
		b.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("blob %s: %d bytes read (%v), want its %d bytes", id, len(got), err, len(data))
		}
	}
}

// TestVerifyFinds: the final check fails the run when a blob in the
// destination differs from the source's though its size is the same,
// and when a blob is missing from a blob store left in place.
func TestVerifyFinds(t *testing.T) {
	ctx := t.Context()
	src := newSource(t)
	dm, db := newDest(t)
	c := &Copier{From: Stores{Meta: src.meta, Blobs: src.blobs}, To: Stores{Meta: dm, Blobs: db}, Source: "test", Hashes: true}
	if _, err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	obj, err := src.meta.Object(ctx, "cache", "nar/x.nar")
	if err != nil {
		t.Fatal(err)
	}
	w, err := db.CreateAt(ctx, obj.Segments[0].Blob)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(bytes.Repeat([]byte{'x'}, int(obj.Segments[0].Size)))
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := c.Run(ctx)
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), obj.Segments[0].Blob) {
		t.Errorf("run over a changed blob: %v, want ErrMismatch naming blob %s", err, obj.Segments[0].Blob)
	}
	// The summary printed before that error must not claim the blobs
	// matched.
	if rep == nil || rep.Verified.Differences != 1 || strings.Contains(rep.String(), "verified:") || !strings.Contains(rep.String(), "1 differences") {
		t.Errorf("summary of a run that found a changed blob:\n%v", rep)
	}
	if v, _ := dm.Setting(ctx, meta.SettingMigrating); v == "" {
		t.Errorf("after a failed verification, %s is not set", meta.SettingMigrating)
	}

	// Blobs left in place: only the metadata moves, and a blob gone from
	// the place is a difference.
	dm2, _ := newDest(t)
	c2 := &Copier{From: Stores{Meta: src.meta, Blobs: src.blobs}, To: Stores{Meta: dm2}, Source: "test", Hashes: true}
	rep, err = c2.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Copied["blobs"] != 0 || rep.Verified.Blobs != 7 || rep.Verified.Hashed {
		t.Errorf("blobs left in place: copied %d blobs, verified %+v", rep.Copied["blobs"], rep.Verified)
	}
	if err := src.blobs.Delete(ctx, obj.Segments[0].Blob); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Run(ctx); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("run with a blob gone: %v, want ErrMismatch saying it is missing", err)
	}
}

// TestRefusesOtherData: a destination that holds data no migration from
// this source put there is refused before anything is copied.
func TestRefusesOtherData(t *testing.T) {
	ctx := t.Context()
	src := newSource(t)
	dm, db := newDest(t)
	if err := dm.CreateBucket(ctx, meta.Bucket{Name: "nix-cache", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	c := &Copier{From: Stores{Meta: src.meta, Blobs: src.blobs}, To: Stores{Meta: dm, Blobs: db}, Source: "test"}
	if _, err := c.Run(ctx); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "1 buckets") {
		t.Fatalf("run into a store with a bucket: %v, want ErrConflict", err)
	}
	if _, err := dm.Bucket(ctx, "cache"); !errors.Is(err, meta.ErrNoSuchBucket) {
		t.Errorf("bucket cache after a refused run: %v, want none", err)
	}
	if err := dm.SetSetting(ctx, meta.SettingMigrateSource, "another"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(ctx); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "another install") {
		t.Fatalf("run into a store filled from another install: %v, want ErrConflict", err)
	}
}

// cancellingBlobs is a source blob store whose blobs cancel the run once
// after bytes of one of them were read: a run stopped mid-blob, as by
// Ctrl-C or a lost connection.
type cancellingBlobs struct {
	storage.Backend
	cancel context.CancelFunc
	after  int64
}

func (c *cancellingBlobs) Open(ctx context.Context, id string) (storage.Blob, error) {
	b, err := c.Backend.Open(ctx, id)
	if err != nil || b.Size() <= c.after {
		return b, err
	}
	return &cancellingBlob{Blob: b, c: c}, nil
}

type cancellingBlob struct {
	storage.Blob
	c    *cancellingBlobs
	read int64
}

func (b *cancellingBlob) Read(p []byte) (int, error) {
	n, err := b.Blob.Read(p)
	b.read += int64(n)
	if b.read > b.c.after {
		b.c.cancel()
	}
	return n, err
}

// TestCancelMidBlob: a run stopped while a blob larger than an S3 part
// streams leaves no blob in the destination (its multipart upload is
// never completed) and no record naming it; the next run finishes.
func TestCancelMidBlob(t *testing.T) {
	src := newSource(t)
	dm, db := newDest(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	big, err := src.meta.Object(t.Context(), "cache", "big")
	if err != nil {
		t.Fatal(err)
	}
	from := &cancellingBlobs{Backend: src.blobs, cancel: cancel, after: partSize + 1<<20}
	c := &Copier{From: Stores{Meta: src.meta, Blobs: from}, To: Stores{Meta: dm, Blobs: db}, Source: "test", Hashes: true}
	if _, err := c.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("run cancelled mid-blob: %v, want context.Canceled", err)
	}
	if b, err := db.Open(t.Context(), big.Segments[0].Blob); !storage.IsNotExist(err) {
		if err == nil {
			b.Close()
		}
		t.Errorf("blob cut short in the destination: %v, want none", err)
	}
	if _, err := dm.Object(t.Context(), "cache", "big"); !errors.Is(err, meta.ErrNoSuchKey) {
		t.Errorf("object of the blob cut short: %v, want none", err)
	}
	c = &Copier{From: Stores{Meta: src.meta, Blobs: src.blobs}, To: Stores{Meta: dm, Blobs: db}, Source: "test", Hashes: true}
	if _, err := c.Run(t.Context()); err != nil {
		t.Fatalf("run after the cancelled one: %v", err)
	}
	checkDest(t, src, dm, db)
}

// TestCopyKeepsReferenceTimes: a narinfo whose reference was last used
// before it was pushed (as an older nixbucket recorded it) is copied with
// both records' times as they were, whichever is copied first, and the
// copy verifies.
func TestCopyKeepsReferenceTimes(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	src, err := sqlite.Open(filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	srcBlobs, err := localfs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	defer srcBlobs.Close()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := src.CreateBucket(ctx, meta.Bucket{Name: "cache", Created: at}); err != nil {
		t.Fatal(err)
	}
	put := func(hash string, created, used time.Time, refs ...string) {
		t.Helper()
		rec := &meta.Narinfo{Bucket: "cache", Hash: hash, StorePath: "/nix/store/" + hash + "-p", URL: "nar/x.nar",
			Compression: "none", FileSize: 1, NarSize: 1, References: refs, Created: created, LastAccess: used}
		obj := meta.Object{Bucket: "cache", Key: hash + ".narinfo", Size: 2, ETag: "e", Modified: created,
			Segments: []meta.Segment{{Size: 2, Data: []byte("ni")}}, Narinfo: rec}
		if _, err := src.PutObject(ctx, obj, nil); err != nil {
			t.Fatal(err)
		}
	}
	// The referrer first, so that the source keeps the reference's old
	// last use; the reference's key sorts first, so it is copied first.
	put(hash32, at, at, depHash+"-p")
	put(depHash, at.Add(-48*time.Hour), at.Add(-24*time.Hour))
	dm, _ := newDest(t)
	c := &Copier{From: Stores{Meta: src, Blobs: srcBlobs}, To: Stores{Meta: dm}, Source: "test", Jobs: 1, Progress: io.Discard}
	if _, err := c.Run(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	for _, h := range []string{depHash, hash32} {
		want, _ := src.Narinfo(ctx, "cache", h)
		got, err := dm.Narinfo(ctx, "cache", h)
		if err != nil || !sameNarinfo(&got, &want) {
			t.Errorf("narinfo %s copied as %+v, %v; want %+v", h, got, err, want)
		}
	}
}

// TestDelete: after a copy, the source deletes one of each kind (an
// object, an upload by completing it, a pin, a signing key, a bucket, a user with its keys
// and token). A run finds them left in the destination and fails its
// check, pointing at --delete; a run with Delete removes them, and the
// blobs they alone held, and the next run finds nothing to do.
func TestDelete(t *testing.T) {
	ctx := t.Context()
	src := newSource(t)
	dm, db := newDest(t)
	run := func(del bool) (*Report, error) {
		c := &Copier{From: Stores{Meta: src.meta, Blobs: src.blobs}, To: Stores{Meta: dm, Blobs: db}, Source: "test", Delete: del}
		return c.Run(ctx)
	}
	if _, err := run(false); err != nil {
		t.Fatal(err)
	}
	big, err := src.meta.Object(ctx, "cache", "big")
	if err != nil {
		t.Fatal(err)
	}
	parts, err := src.meta.Parts(ctx, "cache", "in/progress", "0001-upload", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = src.meta.DeleteObject(ctx, "cache", "big", nil)
	must(err)
	// The upload completes: its parts' blobs become the object's, which
	// the destination's stale upload still names too.
	done := meta.Object{Bucket: "cache", Key: "in/progress", Size: 9000, ETag: "done-2", PartsCount: 2, Modified: time.Now(),
		Segments: []meta.Segment{parts[0].Segment, parts[1].Segment}}
	_, err = src.meta.CompleteUpload(ctx, "0001-upload", done, nil)
	must(err)
	must(src.meta.RemovePin(ctx, "cache", "release"))
	must(src.meta.RemoveSigningKey(ctx, "cache", "cache-1"))
	must(src.meta.DeleteBucket(ctx, "empty"))
	must(src.meta.DeleteUser(ctx, "alice"))

	_, err = run(false)
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "--delete") {
		t.Fatalf("run after deletes in the source: %v, want a mismatch pointing at --delete", err)
	}
	rep, err := run(true)
	if err != nil {
		t.Fatalf("run with Delete: %v", err)
	}
	// an object, an upload (completed), a pin, a signing key, a bucket, two keys, a token and a user
	if n := rep.Copied["removed"]; n != 9 {
		t.Errorf("run with Delete removed %d records, want 9: %s", n, rep)
	}
	if _, err := dm.AccessKey(ctx, "NBALICE000000000001"); !errors.Is(err, meta.ErrNoSuchAccessKey) {
		t.Errorf("alice's key in the destination: %v, want it gone", err)
	}
	if _, err := dm.Bucket(ctx, "empty"); !errors.Is(err, meta.ErrNoSuchBucket) {
		t.Errorf("bucket empty in the destination: %v, want it gone", err)
	}
	if _, err := db.Open(ctx, big.Segments[0].Blob); !storage.IsNotExist(err) {
		t.Errorf("blob %s of a removed object in the destination's store: %v, want it deleted", big.Segments[0].Blob, err)
	}
	for _, p := range parts {
		if b, err := db.Open(ctx, p.Segment.Blob); err != nil {
			t.Errorf("blob %s of the completed upload's object in the destination's store: %v, want it kept", p.Segment.Blob, err)
		} else {
			b.Close()
		}
	}
	if rep, err := run(false); err != nil || !rep.Nothing() {
		t.Errorf("run after the removal: %v, %s; want nothing to copy", err, rep)
	}
}

// failingMark fails setting SettingMigrating.
type failingMark struct{ meta.Store }

func (f failingMark) SetSetting(ctx context.Context, name, value string) error {
	if name == meta.SettingMigrating {
		return errInterrupted
	}
	return f.Store.SetSetting(ctx, name, value)
}

// TestClaimMarksFirst: a first run that dies while claiming an empty
// destination never leaves it naming its source without the mark that
// keeps servers off it; else a server would start there, make its own
// admin key and bucket, and the next run would merge into them.
func TestClaimMarksFirst(t *testing.T) {
	ctx := t.Context()
	src := newSource(t)
	dm, _ := newDest(t)
	c := &Copier{From: Stores{Meta: src.meta, Blobs: src.blobs}, To: Stores{Meta: failingMark{dm}}, Source: "test"}
	if _, err := c.Run(ctx); !errors.Is(err, errInterrupted) {
		t.Fatalf("run whose mark fails: %v, want the interruption", err)
	}
	named, err := dm.Setting(ctx, meta.SettingMigrateSource)
	if err != nil {
		t.Fatal(err)
	}
	marked, err := dm.Setting(ctx, meta.SettingMigrating)
	if err != nil {
		t.Fatal(err)
	}
	if named != "" && marked == "" {
		t.Errorf("the destination names its source (%s) but is not marked as being filled: a server would start on it", named)
	}
}
