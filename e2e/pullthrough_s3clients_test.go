package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/checksum"
)

// TestPullThroughS3Clients: a NAR a pull-through bucket pulled and stored
// is an ordinary object to S3 clients. Its ETag is not an MD5 (it comes
// from the SHA-256 the fetcher checked, in S3's multipart form
// "<32 hex>-1", see objects.PulledETag): the aws CLI and rclone download
// it without a checksum error (rclone compares a plain 32-hex ETag with
// the MD5 of what it received, and fails the copy if they differ, so a
// non-MD5 ETag without the dash would fail here), the kept CRC-64/NVME
// (computed as the bytes arrived) is the file's, and If-Match and
// If-None-Match work with the ETag.
func TestPullThroughS3Clients(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	need(t, "aws")
	need(t, "rclone")
	c := nixBuildClosure(t, 1, 64, "pulls3")
	up := startPullUpstream(t, c.Top)
	s := pullServer(t, up.URL, up.PubKey)
	cache := nixCacheURL(s, nixCacheBucket)
	upInfo := nixReadNarinfo(t, filepath.Join(up.Dir, nixHashPart(c.Top)+".narinfo"))
	upFile := filepath.Join(up.Dir, upInfo.URL)
	body, err := os.ReadFile(upFile)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	wantETag := hex.EncodeToString(sum[:16]) + "-1"
	crc := checksum.Default.New()
	crc.Write(body)
	wantCRC := checksum.Encode(crc.Sum(nil))

	// An anonymous reader pulls the narinfo, then the NAR.
	if r := nixHTTP(t, "", http.MethodGet, cache+"/"+nixHashPart(c.Top)+".narinfo"); r.Status != http.StatusOK {
		t.Fatalf("GET narinfo: %d", r.Status)
	}
	ni := nixGetNarinfo(t, s, nixCacheBucket, c.Top)
	if r := nixHTTP(t, "", http.MethodGet, cache+"/"+ni.URL); r.Status != http.StatusOK || len(r.Body) != len(body) {
		t.Fatalf("GET %s: %d, %d bytes, want 200 and %d", ni.URL, r.Status, len(r.Body), len(body))
	}
	// The client had its last byte before the commit: wait for it (a
	// writer's HEAD never pulls, so 200 means stored).
	for deadline := time.Now().Add(60 * time.Second); ; {
		r := nixHTTP(t, nixNetrc(s), http.MethodHead, cache+"/"+ni.URL)
		if r.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HEAD %s as a writer: %d a minute after the download, want it stored", ni.URL, r.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}

	env := s.clientEnv()
	dir := t.TempDir()
	aws := func(args ...string) cmdResult {
		t.Helper()
		return runCmd(t, env, dir, "aws", append([]string{"--endpoint-url", s.Endpoint, "--profile", "nixbucket"}, args...)...)
	}
	var head struct {
		ETag              string
		ContentLength     int64
		ChecksumCRC64NVME string
	}
	r := aws("s3api", "head-object", "--bucket", nixCacheBucket, "--key", ni.URL, "--checksum-mode", "ENABLED")
	if r.Err != nil {
		t.Fatalf("aws s3api head-object: %v\n%s", r.Err, r.Stderr)
	}
	if err := json.Unmarshal([]byte(r.Stdout), &head); err != nil {
		t.Fatalf("head-object output: %v\n%s", err, r.Stdout)
	}
	if head.ETag != `"`+wantETag+`"` || head.ContentLength != int64(len(body)) || head.ChecksumCRC64NVME != wantCRC {
		t.Errorf("head-object: ETag %s, %d bytes, CRC64NVME %q; want \"%s\", %d, %q",
			head.ETag, head.ContentLength, head.ChecksumCRC64NVME, wantETag, len(body), wantCRC)
	}

	t.Run("aws", func(t *testing.T) {
		got := filepath.Join(dir, "aws-cp")
		if r := aws("s3", "cp", "--no-progress", "s3://"+nixCacheBucket+"/"+ni.URL, got); r.Err != nil {
			t.Fatalf("aws s3 cp: %v\n%s", r.Err, r.Stderr)
		}
		sameFile(t, upFile, got)
		got = filepath.Join(dir, "aws-get")
		if r := aws("s3api", "get-object", "--bucket", nixCacheBucket, "--key", ni.URL, got); r.Err != nil {
			t.Fatalf("aws s3api get-object: %v\n%s", r.Err, r.Stderr)
		}
		sameFile(t, upFile, got)
	})

	t.Run("conditions", func(t *testing.T) {
		get := func(cond, etag string) cmdResult {
			t.Helper()
			return aws("s3api", "get-object", "--bucket", nixCacheBucket, "--key", ni.URL, cond, `"`+etag+`"`, filepath.Join(dir, "cond"))
		}
		if r := get("--if-match", wantETag); r.Err != nil {
			t.Errorf("If-Match with the ETag: %v\n%s", r.Err, r.Stderr)
		}
		if r := get("--if-none-match", wantETag); r.Err == nil || !strings.Contains(r.Stderr, "304") {
			t.Errorf("If-None-Match with the ETag: %v %q, want 304 Not Modified", r.Err, r.Stderr)
		}
		other := strings.Repeat("0", 32) + "-1"
		if r := get("--if-match", other); r.Err == nil || !strings.Contains(r.Stderr, "PreconditionFailed") {
			t.Errorf("If-Match with another ETag: %v %q, want PreconditionFailed", r.Err, r.Stderr)
		}
		if r := get("--if-none-match", other); r.Err != nil {
			t.Errorf("If-None-Match with another ETag: %v\n%s", r.Err, r.Stderr)
		}
	})

	t.Run("rclone", func(t *testing.T) {
		conf, renv := rcloneRemote(t, s, dir)
		got := filepath.Join(dir, "rclone-copy")
		r := runCmd(t, renv, dir, "rclone", "--config", conf, "--retries", "1", "--low-level-retries", "1",
			"copyto", "nb:"+nixCacheBucket+"/"+ni.URL, got)
		if r.Err != nil {
			t.Fatalf("rclone copyto: %v\n%s", r.Err, tail(r.Stderr, 4000))
		}
		sameFile(t, upFile, got)
	})
}
