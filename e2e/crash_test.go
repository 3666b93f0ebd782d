package e2e

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// The kill -9 tests: the server is SIGKILLed while a body streams in, then
// restarted on the same data directory. Acknowledged writes must survive,
// nothing partial may become visible, and the start must sweep what the
// crash left behind.

const (
	crashPartSize  = 16 << 20
	crashParts     = 64 // 1 GiB
	crashPutSize   = 256 << 20
	crashOldSize   = 16 << 20
	crashMPUSeed   = 1000
	crashOldSeed   = 2000
	crashOtherSeed = 3000
)

// errKilled is what a killReader returns once it has killed the server.
var errKilled = errors.New("server killed by the test")

// killReader passes through n bytes of r, then kills the server before
// the next byte: with atEOF the kill comes when r is exhausted (the whole
// body handed to the client) and Read reports io.EOF as usual.
type killReader struct {
	r      io.Reader
	n      int64
	atEOF  bool
	kill   func()
	once   sync.Once
	killed chan struct{}
}

func newKillReader(r io.Reader, n int64, atEOF bool, kill func()) *killReader {
	return &killReader{r: r, n: n, atEOF: atEOF, kill: kill, killed: make(chan struct{})}
}

func (k *killReader) Read(p []byte) (int, error) {
	if k.n <= 0 {
		k.fire()
		if k.atEOF {
			return 0, io.EOF
		}
		return 0, errKilled
	}
	if int64(len(p)) > k.n {
		p = p[:k.n]
	}
	n, err := k.r.Read(p)
	k.n -= int64(n)
	if err == io.EOF && k.atEOF {
		k.fire()
	}
	return n, err
}

func (k *killReader) fire() {
	k.once.Do(func() {
		k.kill()
		close(k.killed)
	})
}

// wait blocks until the kill has happened, failing if it never does.
func (k *killReader) wait(t testing.TB) {
	t.Helper()
	select {
	case <-k.killed:
	default:
		t.Fatal("the upload ended before the server was killed")
	}
}

// minioCore returns a low-level minio-go client for s that never retries,
// so a killed server shows up as an error at once.
func minioCore(t testing.TB, s *Server) *minio.Core {
	t.Helper()
	c, err := minio.NewCore(s.Addr, &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region:       s.Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// partReader returns the bytes of part n (1-based) of the seeded upload.
func partReader(seed uint64, n int) io.Reader {
	return io.LimitReader(randReader(seed*100_000+uint64(n)), crashPartSize)
}

// readerSHA256 returns the SHA-256 of everything r yields.
func readerSHA256(r io.Reader) string {
	h := sha256.New()
	_, _ = io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil))
}

// putSeeded stores size seeded bytes under key with one streaming PUT and
// returns their SHA-256.
func putSeeded(t testing.TB, c *minio.Core, bucket, key string, size int64, seed uint64) string {
	t.Helper()
	if _, err := c.PutObject(context.Background(), bucket, key, io.LimitReader(randReader(seed), size), size, "", "",
		minio.PutObjectOptions{DisableContentSha256: true}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return readerSHA256(io.LimitReader(randReader(seed), size))
}

// objectSHA256 reads an object and returns its size and SHA-256.
func objectSHA256(t testing.TB, c *minio.Core, bucket, key string) (int64, string) {
	t.Helper()
	body, info, _, err := c.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer body.Close()
	h := sha256.New()
	n, err := io.Copy(h, body)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	if n != info.Size {
		t.Errorf("get %s: %d bytes, Content-Length %d", key, n, info.Size)
	}
	return n, hex.EncodeToString(h.Sum(nil))
}

// wantNoSuchKey fails unless key does not exist.
func wantNoSuchKey(t testing.TB, c *minio.Core, bucket, key string) {
	t.Helper()
	_, err := c.StatObject(context.Background(), bucket, key, minio.StatObjectOptions{})
	if minio.ToErrorResponse(err).StatusCode != 404 {
		t.Errorf("stat %s: %v, want 404: a partial object is visible", key, err)
	}
}

// TestCrashDuringMultipart kills the server in the middle of a part of a
// 1 GiB multipart upload that overwrites an existing key, restarts it, and
// checks that the old object is intact, the acknowledged parts survive,
// the upload can be finished, another can be aborted, and that after a
// restart only the committed bytes remain on disk.
func TestCrashDuringMultipart(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB upload; skipped with -short")
	}
	s := startServer(t)
	c := minioCore(t, s)
	ctx := context.Background()
	const bucket, key, other = "crash-multipart", "nar/big.nar", "nar/other.nar"
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	oldSum := putSeeded(t, c, bucket, key, crashOldSize, crashOldSeed)

	// An upload that will be aborted after the crash.
	otherID, err := c.NewMultipartUpload(ctx, bucket, other, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObjectPart(ctx, bucket, other, otherID, 1, partReader(crashOtherSeed, 1), crashPartSize, minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}

	// The 1 GiB upload: half the parts, then a kill half-way into the next.
	uploadID, err := c.NewMultipartUpload(ctx, bucket, key, minio.PutObjectOptions{ContentType: "application/x-nix-nar"})
	if err != nil {
		t.Fatal(err)
	}
	// Parts are uploaded in order (the killed attempt aside), so one running
	// hash sees the whole object's bytes.
	whole := sha256.New()
	etags := map[int]string{}
	put := func(n int) error {
		h := md5.New()
		r := io.TeeReader(partReader(crashMPUSeed, n), io.MultiWriter(h, whole))
		p, err := c.PutObjectPart(ctx, bucket, key, uploadID, n, r, crashPartSize, minio.PutObjectPartOptions{})
		etags[n] = hex.EncodeToString(h.Sum(nil))
		if err == nil && strings.Trim(p.ETag, `"`) != etags[n] {
			return fmt.Errorf("part %d: ETag %s, want %s", n, p.ETag, etags[n])
		}
		return err
	}
	const acked = crashParts / 2
	for n := 1; n <= acked; n++ {
		if err := put(n); err != nil {
			t.Fatalf("upload part %d: %v", n, err)
		}
	}
	kr := newKillReader(partReader(crashMPUSeed, acked+1), crashPartSize/2, false, s.Kill)
	if _, err := c.PutObjectPart(ctx, bucket, key, uploadID, acked+1, kr, crashPartSize, minio.PutObjectPartOptions{}); err == nil {
		t.Fatal("part upload succeeded although the server was killed during it")
	}
	kr.wait(t)
	s.Restart()

	if n, sum := objectSHA256(t, c, bucket, key); n != crashOldSize || sum != oldSum {
		t.Fatalf("after the crash %s is %d bytes sha256 %s, want the old object: %d bytes %s", key, n, sum, crashOldSize, oldSum)
	}
	wantNoSuchKey(t, c, bucket, other)
	uploads, err := c.ListMultipartUploads(ctx, bucket, "", "", "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range uploads.Uploads {
		ids = append(ids, u.Key+" "+u.UploadID)
	}
	sort.Strings(ids)
	want := []string{key + " " + uploadID, other + " " + otherID}
	sort.Strings(want)
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Errorf("uploads after the crash: %v, want %v (acknowledged creates survive)", ids, want)
	}
	lp, err := c.ListObjectParts(ctx, bucket, key, uploadID, 0, 1000)
	if err != nil {
		t.Fatalf("list parts after the crash: %v", err)
	}
	if len(lp.ObjectParts) != acked {
		t.Errorf("after the crash %d parts are listed, want the %d acknowledged ones", len(lp.ObjectParts), acked)
	}
	for i, p := range lp.ObjectParts {
		if p.PartNumber != i+1 || p.Size != crashPartSize || strings.Trim(p.ETag, `"`) != etags[i+1] {
			t.Errorf("part listed after the crash: #%d %d bytes %s, want #%d %d bytes %s",
				p.PartNumber, p.Size, p.ETag, i+1, crashPartSize, etags[i+1])
		}
	}

	// Finish the upload, abort the other one.
	var complete []minio.CompletePart
	for n := 1; n <= crashParts; n++ {
		if n > acked {
			if err := put(n); err != nil {
				t.Fatalf("upload part %d after restart: %v", n, err)
			}
		}
		complete = append(complete, minio.CompletePart{PartNumber: n, ETag: etags[n]})
	}
	if _, err := c.CompleteMultipartUpload(ctx, bucket, key, uploadID, complete, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("complete after restart: %v", err)
	}
	if err := c.AbortMultipartUpload(ctx, bucket, other, otherID); err != nil {
		t.Fatalf("abort after restart: %v", err)
	}
	wantSum := hex.EncodeToString(whole.Sum(nil))
	if n, sum := objectSHA256(t, c, bucket, key); n != crashPartSize*crashParts || sum != wantSum {
		t.Fatalf("completed %s is %d bytes sha256 %s, want %d bytes %s", key, n, sum, crashPartSize*crashParts, wantSum)
	}
	wantNoSuchKey(t, c, bucket, other)

	s.Stop()
	s.Restart()
	if n, sum := objectSHA256(t, c, bucket, key); sum != wantSum {
		t.Fatalf("after a restart %s is %d bytes sha256 %s, want %s", key, n, sum, wantSum)
	}
	checkOnlyCommitted(t, s, crashPartSize*crashParts)
}

// TestCrashDuringOverwrite overwrites a 256 MiB object and kills the server
// at several points of the new body; after each restart the key must hold
// exactly the old bytes (the new body never fully arrived) or, when the
// whole body was sent, the old or the new bytes — never a mix.
func TestCrashDuringOverwrite(t *testing.T) {
	if testing.Short() {
		t.Skip("256 MiB uploads; skipped with -short")
	}
	s := startServer(t)
	c := minioCore(t, s)
	const bucket, key = "crash-overwrite", "nar/over.nar"
	if err := c.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	oldSum := putSeeded(t, c, bucket, key, crashPutSize, crashOldSeed)
	newSum := readerSHA256(io.LimitReader(randReader(crashOldSeed+1), crashPutSize))
	current := oldSum
	for _, tc := range []struct {
		name  string
		sent  int64
		atEOF bool
	}{
		{"10%", crashPutSize / 10, false},
		{"50%", crashPutSize / 2, false},
		{"99%", crashPutSize / 100 * 99, false},
		{"100%", crashPutSize, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kr := newKillReader(io.LimitReader(randReader(crashOldSeed+1), crashPutSize), tc.sent, tc.atEOF, s.Kill)
			_, err := c.PutObject(context.Background(), bucket, key, kr, crashPutSize, "", "",
				minio.PutObjectOptions{DisableContentSha256: true})
			kr.wait(t)
			s.Restart()
			n, sum := objectSHA256(t, c, bucket, key)
			switch {
			case sum == current:
			case sum == newSum && tc.atEOF:
				current = newSum
			case sum == newSum && err == nil:
				t.Fatalf("the PUT was acknowledged although its body was cut at %d bytes", tc.sent)
			default:
				t.Fatalf("after a kill at %s of the body %s is %d bytes sha256 %s: neither the old (%s) nor, with the body complete, the new (%s)",
					tc.name, key, n, sum, oldSum, newSum)
			}
			if err == nil && sum != newSum {
				t.Fatalf("an acknowledged PUT was lost: %s holds %s, want %s", key, sum, newSum)
			}
			checkNoTemps(t, s)
		})
	}
	// Now a complete overwrite, then only the new bytes remain after a restart.
	putSeeded(t, c, bucket, key, crashPutSize, crashOldSeed+1)
	s.Stop()
	s.Restart()
	if _, sum := objectSHA256(t, c, bucket, key); sum != newSum {
		t.Fatalf("after the overwrite %s has sha256 %s, want %s", key, sum, newSum)
	}
	checkOnlyCommitted(t, s, crashPutSize)
}

// dataFiles lists the regular files under the data directory with their
// sizes, leaving out the SQLite database (and its -wal/-shm) and the
// credentials file.
func dataFiles(t testing.TB, dir string) map[string]int64 {
	t.Helper()
	files := map[string]int64{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		// The disk-space reserve is free space set aside, not data.
		if rel == "credentials" || rel == "reserve" || strings.HasSuffix(rel, "-wal") || strings.HasSuffix(rel, "-shm") || isSQLite(path) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files[rel] = fi.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// isSQLite reports whether path starts with the SQLite database header.
func isSQLite(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 16)
	_, err = io.ReadFull(f, head)
	return err == nil && string(head) == "SQLite format 3\x00"
}

// checkNoTemps fails if any file sits in a directory named tmp (or temp)
// under the data directory after a start: the start must sweep them.
func checkNoTemps(t testing.TB, s *Server) {
	t.Helper()
	if s.Target != targetNixbucket || s.s3Blobs() {
		return // on S3 blobs, the blob cache's fills may be going on
	}
	for rel := range dataFiles(t, s.Dir) {
		for _, part := range strings.Split(filepath.Dir(rel), string(filepath.Separator)) {
			if part == "tmp" || part == "temp" {
				t.Errorf("temporary file %s survived a restart", rel)
			}
		}
	}
}

// checkOnlyCommitted fails unless the data files (blobs and whatever else
// besides the metadata database) add up to the committed objects' bytes,
// give or take a little: crash leftovers and replaced or aborted data must
// be gone after a restart.
func checkOnlyCommitted(t testing.TB, s *Server, committed int64) {
	t.Helper()
	if s.Target != targetNixbucket || s.s3Blobs() {
		// On S3 blobs the data directory holds a blob cache, and orphans
		// in the store are GC's to collect after a grace period.
		t.Logf("data directory layout of %s not checked", s.Target)
		return
	}
	checkNoTemps(t, s)
	files := dataFiles(t, s.Dir)
	var total int64
	for _, n := range files {
		total += n
	}
	t.Logf("data directory: %d files, %d bytes outside the database; committed objects: %d bytes", len(files), total, committed)
	const slack = 1 << 20
	if total < committed || total > committed+slack {
		var list []string
		for rel, n := range files {
			list = append(list, fmt.Sprintf("%12d %s", n, rel))
		}
		sort.Strings(list)
		t.Errorf("data directory holds %d bytes outside the database, want %d (the committed objects) to %d:\n%s",
			total, committed, committed+slack, strings.Join(list, "\n"))
	}
}
