package e2e

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestRealClients drives the server with the clients people use, each on a
// server of its own: every case checks the data and listings it gets back,
// not just exit codes.
func TestRealClients(t *testing.T) {
	cases := []struct {
		name     string
		programs []string
		run      func(t *testing.T, s *Server)
	}{
		{"awscli", []string{"aws", "curl"}, testAWSCLI},
		{"boto3", []string{"python3"}, testBoto3},
		{"s3cmd", []string{"s3cmd", "curl"}, testS3cmd},
		{"rclone", []string{"rclone"}, testRclone},
		{"curl-nix", []string{"curl"}, testCurlNix},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, p := range c.programs {
				need(t, p)
			}
			c.run(t, startServer(t))
		})
	}
}

// multipartETag returns the S3 ETag (without quotes) of a file uploaded in
// parts of partSize bytes: the MD5 of the parts' binary MD5s, then "-N".
func multipartETag(t testing.TB, path string, partSize int64) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var sums []byte
	n := 0
	for {
		h := md5.New()
		m, err := io.CopyN(h, f, partSize)
		if m > 0 {
			sums = h.Sum(sums)
			n++
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	sum := md5.Sum(sums)
	return fmt.Sprintf("%s-%d", hex.EncodeToString(sum[:]), n)
}

// fileMD5 returns the hex MD5 of a file: the ETag of a single-part upload.
func fileMD5(t testing.TB, path string) string {
	t.Helper()
	return hex.EncodeToString(fileSum(t, path, md5.New()))
}

// curlGet fetches url with curl into out and returns the HTTP status and
// the response body when it is small (error documents).
func curlGet(t testing.TB, env []string, url, out string) (int, string) {
	t.Helper()
	r := runCmd(t, env, "", "curl", "-sS", "-o", out, "-w", "%{http_code}", url)
	if r.Err != nil {
		t.Fatalf("curl %s: %v\n%s", url, r.Err, r.Stderr)
	}
	var code int
	if _, err := fmt.Sscan(r.Stdout, &code); err != nil {
		t.Fatalf("curl %s: status %q: %v", url, r.Stdout, err)
	}
	body := ""
	if fi, err := os.Stat(out); err == nil && fi.Size() < 64<<10 {
		b, _ := os.ReadFile(out)
		body = string(b)
	}
	return code, body
}

// wantS3Error fails the test unless status and body are the S3 error
// document with the given status and code.
func wantS3Error(t testing.TB, what string, status int, body string, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || !strings.Contains(body, "<Code>"+wantCode+"</Code>") {
		t.Errorf("%s: got %d %s, want %d %s (%s)", what, status, strings.TrimSpace(body), wantStatus, wantCode, http.StatusText(wantStatus))
	}
}
