package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestBoto3Checksums runs testdata/boto3_checksums.py: boto3 at its
// defaults (CRC32 on every upload, validation of every download) for
// put_object, a concurrent multipart upload_file, and get_object with
// ChecksumMode, each checked against checksums computed in the script;
// and S3's refusals of a checksum algorithm named without a value and of
// a COMPOSITE upload's part without its checksum.
func TestBoto3Checksums(t *testing.T) {
	need(t, "python3")
	s := startServer(t)
	env := s.clientEnv(
		"AWS_ACCESS_KEY_ID="+s.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+s.SecretKey,
		"NB_ENDPOINT="+s.Endpoint,
		"NB_BUCKET=boto3-checksums",
	)
	if r := runCmd(t, env, "", "python3", "-c", "import boto3"); r.Err != nil {
		skipOrFail(t, "python3 cannot import boto3: "+r.Stderr)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "boto3_checksums.py"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := runCmd(t, env, dir, "python3", script, dir)
	t.Logf("boto3_checksums.py:\n%s", r.Stdout)
	if r.Err != nil || !strings.Contains(r.Stdout, "ALL PASSED") {
		t.Fatalf("boto3_checksums.py: %v\nstderr:\n%s", r.Err, tail(r.Stderr, 8000))
	}
}
