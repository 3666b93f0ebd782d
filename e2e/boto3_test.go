package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// testBoto3 runs testdata/boto3_client.py, which drives every S3 operation
// and error code through boto3 and prints a line per check.
func testBoto3(t *testing.T, s *Server) {
	env := s.clientEnv(
		"AWS_ACCESS_KEY_ID="+s.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+s.SecretKey,
		"NB_ENDPOINT="+s.Endpoint,
		"NB_BUCKET=boto3-e2e",
	)
	if q := s.quirks(); len(q) > 0 {
		env = append(env, "NB_QUIRKS="+strings.Join(q, ","))
		t.Logf("tolerating %s quirks: %v", s.Target, q)
	}
	if r := runCmd(t, env, "", "python3", "-c", "import boto3"); r.Err != nil {
		skipOrFail(t, "python3 cannot import boto3: "+r.Stderr)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "boto3_client.py"))
	if err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, env, t.TempDir(), "python3", script)
	t.Logf("boto3_client.py:\n%s", r.Stdout)
	if r.Err != nil || !strings.Contains(r.Stdout, "ALL PASSED") {
		t.Fatalf("boto3_client.py: %v\nstderr:\n%s", r.Err, tail(r.Stderr, 8000))
	}
}
