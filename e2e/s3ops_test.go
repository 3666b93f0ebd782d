package e2e

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/checksum"
)

// fileChecksum is alg's checksum of the file at path, as S3 sends it.
func fileChecksum(t testing.TB, path string, alg checksum.Algorithm) string {
	t.Helper()
	return checksum.Encode(fileSum(t, path, alg.New()))
}

// dirBytes is the size of every regular file under dir.
func dirBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAWSCLIModernOps drives what the aws CLI does without being asked, at
// its default settings (issue #13): `aws s3 cp` of a 100 MiB object from
// one bucket to another (above the 8 MiB multipart threshold the CLI
// copies with UploadPartCopy, which must not copy the bytes: the source
// was uploaded in parts of the same 8 MiB, and the copy gets S3's default
// CRC64NVME checksum), `aws s3 sync` of 1,000 small
// files up and back down, and the s3api calls for tagging, versions, ACLs
// and attributes.
func TestAWSCLIModernOps(t *testing.T) {
	need(t, "aws")
	s := startServer(t)
	env := s.clientEnv()
	dir := t.TempDir()
	aws := func(args ...string) string {
		t.Helper()
		return mustRun(t, env, dir, "aws", append([]string{"--endpoint-url", s.Endpoint, "--profile", "nixbucket"}, args...)...)
	}
	awsErr := func(args ...string) string {
		t.Helper()
		r := runCmd(t, env, dir, "aws", append([]string{"--endpoint-url", s.Endpoint, "--profile", "nixbucket"}, args...)...)
		if r.Err == nil {
			t.Errorf("aws %s succeeded, want an error", strings.Join(args, " "))
		}
		return r.Stderr
	}
	aws("s3", "mb", "s3://ops-a")
	aws("s3", "mb", "s3://ops-b")

	t.Run("cp-between-buckets", func(t *testing.T) {
		big := filepath.Join(dir, "big.bin")
		const size = 100 << 20
		writeRandomFile(t, big, size, 13)
		aws("s3", "cp", "--no-progress", big, "s3://ops-a/big")
		store := s.Dir
		if s.s3Blobs() { // the data directory holds a blob cache, which the copy's reads fill
			store = s.blobDir()
		}
		before := dirBytes(t, store)
		aws("s3", "cp", "--no-progress", "s3://ops-a/big", "s3://ops-b/big")
		if grown := dirBytes(t, store) - before; s.Target == targetNixbucket && grown > 8<<20 {
			t.Errorf("%s grew by %d bytes copying 100 MiB between buckets: the parts were copied, not shared", store, grown)
		}
		var head awsHead
		if err := json.Unmarshal([]byte(aws("s3api", "head-object", "--bucket", "ops-b", "--key", "big")), &head); err != nil {
			t.Fatal(err)
		}
		if want := `"` + multipartETag(t, big, 8<<20) + `"`; head.ContentLength != size || head.ETag != want {
			t.Errorf("copy: %d bytes, ETag %s; want %d, %s", head.ContentLength, head.ETag, size, want)
		}
		// The CLI's copy names no checksum: the object gets S3's default
		// CRC64NVME over its bytes, as every upload that names none does.
		var sum struct{ ChecksumCRC64NVME, ChecksumType string }
		if err := json.Unmarshal([]byte(aws("s3api", "head-object", "--bucket", "ops-b", "--key", "big", "--checksum-mode", "ENABLED")), &sum); err != nil {
			t.Fatal(err)
		}
		if want := fileChecksum(t, big, checksum.CRC64NVME); sum.ChecksumCRC64NVME != want || sum.ChecksumType != "FULL_OBJECT" {
			t.Errorf("copy: checksum %+v, want CRC64NVME %s FULL_OBJECT", sum, want)
		}
		aws("s3", "rm", "s3://ops-a/big") // the copy keeps the shared blobs
		back := filepath.Join(dir, "back.bin")
		aws("s3", "cp", "--no-progress", "s3://ops-b/big", back)
		sameFile(t, big, back)
		// A source stored whole (one PUT) copied in 8 MiB ranges, which
		// are not whole segments: the bytes are copied, and still right.
		mid := filepath.Join(dir, "mid.bin")
		writeRandomFile(t, mid, 12<<20, 14)
		aws("s3api", "put-object", "--bucket", "ops-a", "--key", "mid", "--body", mid)
		aws("s3", "cp", "--no-progress", "s3://ops-a/mid", "s3://ops-b/copied/mid")
		midBack := filepath.Join(dir, "mid.back")
		aws("s3", "cp", "--no-progress", "s3://ops-b/copied/mid", midBack)
		sameFile(t, mid, midBack)
	})

	t.Run("sync-1000", func(t *testing.T) {
		up := filepath.Join(dir, "tree")
		for i := range 1000 {
			p := filepath.Join(up, fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%04d.txt", i))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(strings.Repeat(fmt.Sprintf("file %d\n", i), i%50+1)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		aws("s3", "sync", "--no-progress", up, "s3://ops-a/tree")
		if n := len(parseAWSLs(aws("s3", "ls", "--recursive", "s3://ops-a/tree/"))); n != 1000 {
			t.Errorf("%d keys after sync up, want 1000", n)
		}
		if out := aws("s3", "sync", "--no-progress", up, "s3://ops-a/tree"); strings.TrimSpace(out) != "" {
			t.Errorf("a second sync up transferred files:\n%s", tail(out, 2000))
		}
		down := filepath.Join(dir, "down")
		aws("s3", "sync", "--no-progress", "s3://ops-a/tree", down)
		n := 0
		err := filepath.WalkDir(up, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(up, path)
			sameFile(t, path, filepath.Join(down, rel))
			n++
			return nil
		})
		if err != nil || n != 1000 {
			t.Errorf("compared %d files: %v", n, err)
		}
	})

	t.Run("s3api", func(t *testing.T) {
		small := filepath.Join(dir, "small.txt")
		if err := os.WriteFile(small, []byte("small\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		aws("s3api", "put-object", "--bucket", "ops-a", "--key", "t", "--body", small, "--tagging", "team=nix&tier=1")
		var tags struct{ TagSet []struct{ Key, Value string } }
		if err := json.Unmarshal([]byte(aws("s3api", "get-object-tagging", "--bucket", "ops-a", "--key", "t")), &tags); err != nil || len(tags.TagSet) != 2 {
			t.Errorf("get-object-tagging: %+v, %v", tags, err)
		}
		aws("s3api", "put-object-tagging", "--bucket", "ops-a", "--key", "t", "--tagging", `TagSet=[{Key=only,Value=one}]`)
		if out := aws("s3api", "get-object-tagging", "--bucket", "ops-a", "--key", "t"); !strings.Contains(out, `"only"`) || strings.Contains(out, "team") {
			t.Errorf("get-object-tagging after put-object-tagging:\n%s", out)
		}
		aws("s3api", "delete-object-tagging", "--bucket", "ops-a", "--key", "t")

		var versions struct {
			Versions []struct {
				Key, VersionId string
				IsLatest       bool
			}
		}
		if err := json.Unmarshal([]byte(aws("s3api", "list-object-versions", "--bucket", "ops-a", "--prefix", "tree/d00/")), &versions); err != nil {
			t.Fatal(err)
		}
		if len(versions.Versions) != 50 || versions.Versions[0].VersionId != "null" || !versions.Versions[0].IsLatest {
			t.Errorf("list-object-versions: %d versions, first %+v; want 50, null, latest", len(versions.Versions), versions.Versions)
		}
		if out := aws("s3api", "get-bucket-versioning", "--bucket", "ops-a"); strings.Contains(out, "Enabled") {
			t.Errorf("get-bucket-versioning: %s", out)
		}
		if stderr := awsErr("s3api", "put-bucket-versioning", "--bucket", "ops-a", "--versioning-configuration", "Status=Enabled"); !strings.Contains(stderr, "NotImplemented") {
			t.Errorf("put-bucket-versioning Enabled: %s", stderr)
		}
		if out := aws("s3api", "get-bucket-acl", "--bucket", "ops-a"); !strings.Contains(out, "FULL_CONTROL") {
			t.Errorf("get-bucket-acl:\n%s", out)
		}
		if stderr := awsErr("s3", "cp", small, "s3://ops-a/public", "--acl", "public-read"); !strings.Contains(stderr, "AccessControlListNotSupported") {
			t.Errorf("s3 cp --acl public-read: %s", stderr)
		}
		var attrs struct {
			ETag         string
			ObjectSize   int64
			StorageClass string
		}
		out := aws("s3api", "get-object-attributes", "--bucket", "ops-a", "--key", "t", "--object-attributes", "ETag", "ObjectSize", "StorageClass")
		if err := json.Unmarshal([]byte(out), &attrs); err != nil || attrs.ObjectSize != 6 || attrs.StorageClass != "STANDARD" || attrs.ETag != fileMD5(t, small) {
			t.Errorf("get-object-attributes: %+v, %v\n%s", attrs, err, out)
		}
	})
}

// TestBoto3ModernOps runs testdata/boto3_s3ops.py: boto3's managed copy
// (UploadPartCopy above 8 MiB), tagging, versions, attributes and ACLs.
func TestBoto3ModernOps(t *testing.T) {
	need(t, "python3")
	s := startServer(t)
	env := s.clientEnv("AWS_ACCESS_KEY_ID="+s.AccessKey, "AWS_SECRET_ACCESS_KEY="+s.SecretKey, "NB_ENDPOINT="+s.Endpoint)
	if r := runCmd(t, env, "", "python3", "-c", "import boto3"); r.Err != nil {
		skipOrFail(t, "python3 cannot import boto3: "+r.Stderr)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "boto3_s3ops.py"))
	if err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, env, t.TempDir(), "python3", script)
	t.Logf("boto3_s3ops.py:\n%s", r.Stdout)
	if r.Err != nil || !strings.Contains(r.Stdout, "ALL PASSED") {
		t.Fatalf("boto3_s3ops.py: %v\nstderr:\n%s", r.Err, tail(r.Stderr, 8000))
	}
}
