package server_test

// A full disk, for real: the server's data directory on a small tmpfs,
// filled through the server (and then to the last byte by another
// writer), driven with aws-sdk-go-v2, net/http and binary-cache PUTs.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nixbucket/nixbucket/internal/diskspace"
	"github.com/nixbucket/nixbucket/internal/fastlane"
	"github.com/nixbucket/nixbucket/internal/server"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

const storageFull = "XNixbucketStorageFull"

// openFullDiskEnv opens a server on data, with its log kept in log too,
// and the default --min-free unless minFree is given.
func openFullDiskEnv(t *testing.T, data string, log *testenv.LogBuffer, minFree ...diskspace.MinFree) *env {
	t.Helper()
	e := &env{t: t, rec: &recorder{}, data: data}
	opts := server.Options{
		Data: data,
		Log:  slog.New(slog.NewTextHandler(io.MultiWriter(log, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if len(minFree) > 0 {
		opts.MinFree = minFree[0]
	}
	srv, err := server.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("server.Open on %s (free %d bytes): %v", data, testenv.FreeBytes(t, data), err)
	}
	e.srv = srv
	e.id, e.secret = srv.Root.ID, srv.Root.Secret
	h := e.rec.wrap(srv.Handler())
	e.ts = httptest.NewUnstartedServer(h)
	e.ts.Listener = fastlane.NewListener(e.ts.Listener, h, fastlane.Options{})
	e.ts.Start()
	e.s3 = e.newS3(e.id, e.secret)
	ts := e.ts
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	return e
}

// close stops e's server, as a shutdown would.
func (e *env) close() {
	e.t.Helper()
	e.ts.Close()
	if err := e.srv.Close(); err != nil {
		e.t.Fatalf("closing the server: %v", err)
	}
}

// fillThroughServer PUTs 1 MiB objects until the server refuses one, and
// returns the keys stored. Every refusal must be a clean 507
// XNixbucketStorageFull: no 500, no reset.
func fillThroughServer(e *env, bucket, prefix string) []string {
	e.t.Helper()
	var keys []string
	for i := range 200 {
		key := fmt.Sprintf("%s/%03d", prefix, i)
		_, err := e.s3.PutObject(ctx(e.t), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data(uint64(i), 1<<20))})
		if err == nil {
			keys = append(keys, key)
			continue
		}
		wantCode(e.t, err, storageFull, http.StatusInsufficientStorage)
		if len(keys) == 0 {
			e.t.Fatalf("the first PUT was refused")
		}
		return keys
	}
	e.t.Fatalf("200 MiB stored on a 64 MiB disk")
	return nil
}

// wantWritesRefused checks that every kind of write gets the 507, over S3
// and the binary-cache protocol, with and without Expect: 100-continue,
// and that the client reads it (no reset, no body sent when it asked
// first).
func wantWritesRefused(e *env, bucket string) {
	t := e.t
	t.Helper()
	// aws-sdk-go-v2, a small PUT (no Expect) and a large one (Expect:
	// 100-continue, which the SDK adds over 2 MiB).
	for _, size := range []int{1 << 20, 4 << 20} {
		_, err := e.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("refused"), Body: bytes.NewReader(make([]byte, size))})
		wantCode(t, err, storageFull, http.StatusInsufficientStorage)
	}
	_, err := e.s3.CreateMultipartUpload(ctx(t), &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("refused-mp")})
	wantCode(t, err, storageFull, http.StatusInsufficientStorage)
	_, err = e.s3.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: aws.String("refused-bucket")})
	wantCode(t, err, storageFull, http.StatusInsufficientStorage)

	// Signed PUTs from net/http: with Expect the body is never sent; without
	// it, 8 MiB (past what net/http drains by itself) still gets the 507.
	for _, expect := range []bool{true, false} {
		body := &countingBody{r: bytes.NewReader(make([]byte, 8<<20))}
		r, _ := http.NewRequestWithContext(ctx(t), http.MethodPut, e.url(bucket, "refused-raw"), body)
		r.ContentLength = 8 << 20
		r.Header.Set("User-Agent", "aws-sdk-go-v2 (nixbucket e2e)")
		if expect {
			r.Header.Set("Expect", "100-continue")
		}
		e.sign(r, "UNSIGNED-PAYLOAD", time.Now())
		status, hdr, b := doWith(t, expectClient(), r)
		wantError(t, status, b, http.StatusInsufficientStorage, storageFull)
		if expect && body.n != 0 {
			t.Errorf("Expect: 100-continue: the client sent %d body bytes of a refused PUT", body.n)
		}
		if !expect && hdr.Get("Connection") == "close" && body.n < 8<<20 {
			t.Errorf("no Expect: the server closed the connection after %d of %d body bytes", body.n, 8<<20)
		}
	}

	// The binary-cache protocol: Nix's PUT /bucket/key with netrc (Basic)
	// credentials, with and without Expect.
	for _, expect := range []bool{true, false} {
		r, _ := http.NewRequestWithContext(ctx(t), http.MethodPut, e.url(bucket, "nar/0000000000000000000000000000000000000000000000000000.nar"), bytes.NewReader(make([]byte, 2<<20)))
		r.SetBasicAuth(e.id, e.secret)
		r.Header.Set("User-Agent", "curl/7.88.1 Nix/2.8.0")
		r.Header.Set("Content-Type", "application/x-nix-nar")
		if expect {
			r.Header.Set("Expect", "100-continue")
		}
		status, hdr, b := doWith(t, expectClient(), r)
		if status != http.StatusInsufficientStorage || hdr.Get("X-Nixbucket-Error") != storageFull ||
			!strings.HasPrefix(string(b), "507 "+storageFull+": ") || !strings.Contains(string(b), "disk is full") {
			t.Errorf("binary-cache PUT (expect %v): %d %s %q, want 507 %s", expect, status, hdr.Get("X-Nixbucket-Error"), b, storageFull)
		}
	}
}

// expectClient waits as long as needed for an answer to Expect:
// 100-continue, so that a body sent proves the server asked for it.
func expectClient() *http.Client {
	return &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute, DisableKeepAlives: true}}
}

func doWith(t *testing.T, c *http.Client, r *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := c.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v (the client did not get the answer)", r.Method, r.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer to %s %s: %v", r.Method, r.URL, err)
	}
	return resp.StatusCode, resp.Header, b
}

type countingBody struct {
	r io.Reader
	n int
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// wantDeletes deletes keys on the full disk and checks they are gone.
func wantDeletes(e *env, bucket string, keys []string) {
	e.t.Helper()
	for _, k := range keys {
		if _, err := e.s3.DeleteObject(ctx(e.t), &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(k)}); err != nil {
			e.t.Fatalf("DeleteObject %s on a full disk: %v", k, err)
		}
		e.absent(bucket, k)
	}
}

// On a full disk writes get 507 XNixbucketStorageFull (S3 and binary-cache
// protocol alike) while reads, DELETE and AbortMultipartUpload still
// work; once deletes freed space writes are accepted again; and all of it
// holds after a restart on the full disk.
func TestFullDiskRefusesWritesKeepsDeletesAcrossRestart(t *testing.T) {
	mnt := testenv.MountTmpfs(t, "64m")
	dir := filepath.Join(mnt, "data")
	var log testenv.LogBuffer
	e := openFullDiskEnv(t, dir, &log)
	bucket := "full"
	if _, err := e.s3.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	// A multipart upload in progress, to abort on the full disk.
	mp, err := e.s3.CreateMultipartUpload(ctx(t), &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s3.UploadPart(ctx(t), &s3.UploadPartInput{Bucket: &bucket, Key: aws.String("mp"), UploadId: mp.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(data(99, 5<<20))}); err != nil {
		t.Fatal(err)
	}

	// The server fills the disk up to the minimum free space: a PUT that
	// would take it under is refused.
	keys := fillThroughServer(e, bucket, "a")
	free := testenv.FreeBytes(t, mnt)
	t.Logf("stored %d MiB before the first 507; %d bytes free", len(keys), free)
	if free < (64<<20)*2/100 {
		t.Errorf("the server's writes took free space under the default minimum (2%% of 64 MiB): %d bytes", free)
	}

	// Now to the last byte, by someone else: under the minimum, every
	// write is refused, and that is logged once.
	testenv.FillDisk(t, filepath.Join(mnt, "filler"))
	if got := e.get(bucket, keys[0]); !bytes.Equal(got, data(0, 1<<20)) {
		t.Fatal("a read on the full disk returned other bytes")
	}
	wantWritesRefused(e, bucket)
	wantWritesRefused(e, bucket)
	if n := strings.Count(log.String(), "free disk space under the minimum"); n != 1 {
		t.Errorf("the drop under the minimum was logged %d times, want once:\n%s", n, log.String())
	}
	wantDeletes(e, bucket, keys[:1])
	if _, err := e.s3.AbortMultipartUpload(ctx(t), &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: aws.String("mp"), UploadId: mp.UploadId}); err != nil {
		t.Fatalf("AbortMultipartUpload on a full disk: %v", err)
	}
	wantDeletes(e, bucket, keys[1:4])
	keys = keys[4:]

	// The space the deletes freed takes writes again.
	e.put(bucket, "after-free", data(1000, 1<<20))
	if !strings.Contains(log.String(), "accepting writes again") {
		t.Errorf("the way back over the minimum was not logged:\n%s", log.String())
	}

	// Full again, through the server and to the last byte, then a restart.
	keys = append(keys, fillThroughServer(e, bucket, "b")...)
	testenv.FillDisk(t, filepath.Join(mnt, "filler2"))
	e.close()
	e = openFullDiskEnv(t, dir, &log)
	if got := e.get(bucket, keys[len(keys)-1]); len(got) != 1<<20 {
		t.Fatalf("read after the restart: %d bytes", len(got))
	}
	wantWritesRefused(e, bucket)
	wantDeletes(e, bucket, keys[:4])
	e.put(bucket, "after-restart", data(1001, 1<<20))

	// DeleteObjects too, and the bucket's listing agrees.
	rest := keys[4:]
	var ids []types.ObjectIdentifier
	for _, k := range rest {
		ids = append(ids, types.ObjectIdentifier{Key: aws.String(k)})
	}
	testenv.FillDisk(t, filepath.Join(mnt, "filler3"))
	out, err := e.s3.DeleteObjects(ctx(t), &s3.DeleteObjectsInput{Bucket: &bucket, Delete: &types.Delete{Objects: ids}})
	if err != nil || len(out.Errors) > 0 {
		t.Fatalf("DeleteObjects on a full disk: %v %+v", err, out)
	}
	list, err := e.s3.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != 2 {
		t.Errorf("%d objects left, want after-free and after-restart", len(list.Contents))
	}
	for _, x := range e.rec.since(0) {
		if x.Status >= 500 && x.Status != http.StatusInsufficientStorage {
			t.Errorf("server answered %d to %s %s", x.Status, x.Method, x.Path)
		}
	}
}

// Objects small enough to live in the metadata store free no file space
// when deleted, while each delete appends to SQLite's WAL, and the
// database must grow to take in what the WAL holds. On a disk full to the
// last byte, thousands of such deletes must still commit.
func TestFullDiskDeletesManyInlineObjects(t *testing.T) {
	mnt := testenv.MountTmpfs(t, "32m")
	dir := filepath.Join(mnt, "data")
	var log testenv.LogBuffer
	e := openFullDiskEnv(t, dir, &log)
	bucket := "small"
	if _, err := e.s3.CreateBucket(ctx(t), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatal(err)
	}
	const n = 1500
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("k/%04d", i)
		e.put(bucket, keys[i], data(uint64(i), 8<<10))
	}
	testenv.FillDisk(t, filepath.Join(mnt, "filler"))
	for i, k := range keys {
		if _, err := e.s3.DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(k)}); err != nil {
			t.Fatalf("DeleteObject %d of %d on a full disk: %v (%d bytes free)", i+1, n, err, testenv.FreeBytes(t, mnt))
		}
	}
	list, err := e.s3.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != 0 {
		t.Errorf("%d objects left", len(list.Contents))
	}
}

// The same refusals without a tmpfs, so they are checked wherever the
// tests run: a --min-free no disk can meet refuses every write with a 507
// the client reads (no reset, no body sent after Expect: 100-continue),
// while reads and deletes go on.
func TestMinFreeRefusesWritesCleanly(t *testing.T) {
	var log testenv.LogBuffer
	dir := filepath.Join(t.TempDir(), "data")
	e := openFullDiskEnv(t, dir, &log)
	bucket := e.bucket("minfree")
	e.put(bucket, "kept", data(1, 1<<20))
	e.close()
	e = openFullDiskEnv(t, dir, &log, diskspace.MinFree{Bytes: 1 << 62, Set: true})
	wantWritesRefused(e, bucket)
	if got := e.get(bucket, "kept"); !bytes.Equal(got, data(1, 1<<20)) {
		t.Error("read under --min-free returned other bytes")
	}
	wantDeletes(e, bucket, []string{"kept"})
	if n := strings.Count(log.String(), "free disk space under the minimum"); n != 1 {
		t.Errorf("the drop under the minimum was logged %d times, want once", n)
	}
}
