package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

var (
	pushBinOnce sync.Once
	pushBinPath string
	pushBinErr  error
)

// pushBinary returns the nixbucket binary that runs `push`: the server
// under test when that is nixbucket, else one built for the purpose.
func pushBinary(t testing.TB) string {
	t.Helper()
	setupTarget(t)
	if target == targetNixbucket {
		return serverBin
	}
	pushBinOnce.Do(func() {
		dir := filepath.Join(binDir, "push")
		if pushBinErr = os.MkdirAll(dir, 0o755); pushBinErr == nil {
			pushBinPath, pushBinErr = buildNixbucket(dir)
		}
	})
	if pushBinErr != nil {
		t.Fatal(pushBinErr)
	}
	return pushBinPath
}

// pushNeedNix skips the test when Nix or the corpus is missing (failing it
// under CI), and returns the push binary.
func pushNeedNix(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nix", "nix-store", "nix-build", "sh"} {
		need(t, p)
	}
	sharedDir(t)
	return pushBinary(t)
}

// pushS3 is an S3 endpoint with credentials that push may use.
type pushS3 struct {
	Endpoint          string // http://127.0.0.1:PORT
	AccessKey, Secret string
	Dir               string // the server's data directory
}

// client returns an SDK client with the endpoint's credentials, built
// without the shared configuration (so AWS_CA_BUNDLE plays no part).
func (e pushS3) client() *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(e.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(e.AccessKey, e.Secret, ""),
	})
}

// pushS3Of returns the S3 endpoint of a running nixbucket, with its root
// credentials.
func pushS3Of(s *Server) pushS3 {
	return pushS3{Endpoint: s.Endpoint, AccessKey: s.AccessKey, Secret: s.SecretKey, Dir: s.Dir}
}

// pushVersitygw starts versitygw (an independent S3 server) on loopback
// with a fresh directory and stops it when the test ends. It skips the
// test when versitygw is not installed (failing it under CI).
func pushVersitygw(t *testing.T) pushS3 {
	t.Helper()
	bin, err := findVersitygw()
	if err != nil {
		skipOrFail(t, err.Error())
	}
	e := pushS3{AccessKey: "PUSHVGWROOTKEY", Secret: "push-versitygw-root-secret", Dir: t.TempDir()}
	var stderr syncBuffer
	for range 3 { // a port picked free may be taken before versitygw binds it
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		cmd := exec.Command(bin, "--port", addr, "--quiet", "posix", e.Dir)
		cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+e.AccessKey, "ROOT_SECRET_KEY="+e.Secret)
		cmd.Stdout, cmd.Stderr = &stderr, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("start versitygw: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-exited
		})
		if testenv.WaitListening(addr, exited, 15*time.Second) {
			e.Endpoint = "http://" + addr
			return e
		}
		if !strings.Contains(stderr.String(), "address already in use") {
			break
		}
	}
	t.Fatalf("versitygw did not start:\n%s", tail(stderr.String(), 4000))
	return e
}

// pushCreateBucket creates a bucket with the endpoint's credentials.
func pushCreateBucket(t testing.TB, e pushS3, bucket string) {
	t.Helper()
	if _, err := e.client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("CreateBucket %s: %v", bucket, err)
	}
}

// pushUploads lists a bucket's unfinished multipart uploads.
func pushUploads(t testing.TB, e pushS3, bucket string) []types.MultipartUpload {
	t.Helper()
	out, err := e.client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("ListMultipartUploads %s: %v", bucket, err)
	}
	return out.Uploads
}

// pushAWSFiles writes a temporary AWS config and credentials file pair with
// one profile, as a user of the seed's s3://…?profile=cache-upload would
// have, and returns the environment variables that select them.
func pushAWSFiles(t testing.TB, profile, keyID, secret, region string) []string {
	t.Helper()
	dir := t.TempDir()
	config := filepath.Join(dir, "config")
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(config, fmt.Appendf(nil, "[profile %s]\nregion = %s\n", profile, region), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(creds, fmt.Appendf(nil, "[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n", profile, keyID, secret), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"AWS_CONFIG_FILE=" + config, "AWS_SHARED_CREDENTIALS_FILE=" + creds}
}

// pushEnv is the environment of a push: nixEnv (fresh XDG directories, so
// the multipart journal is the test's own; proxies that fail anything but
// loopback) without the caller's AWS settings, plus extra.
func pushEnv(t testing.TB, extra ...string) []string {
	var env []string
	for _, kv := range nixEnv(t) {
		if !strings.HasPrefix(strings.ToUpper(kv), "AWS_") {
			env = append(env, kv)
		}
	}
	env = append(env, "AWS_EC2_METADATA_DISABLED=true")
	return append(env, extra...)
}

// pushRun runs `nixbucket push ARGS` in env without failing the test.
func pushRun(t testing.TB, env []string, args ...string) cmdResult {
	t.Helper()
	return runCmd(t, env, "", pushBinary(t), append([]string{"push"}, args...)...)
}

// pushRunStdin runs `nixbucket push ARGS` with stdin as standard input.
func pushRunStdin(t testing.TB, env []string, stdin string, args ...string) cmdResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, pushBinary(t), append([]string{"push"}, args...)...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return cmdResult{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

// pushSummary is the --json summary line.
type pushSummary struct {
	Paths, Pushed, Skipped, Failed int
	NarBytes, FileBytes, Uploaded  int64
}

// pushPathLine is one --json path line.
type pushPathLine struct {
	Path, Status, URL, Compression, Error string
	NarSize, FileSize                     int64
	Reused                                bool
}

// pushMust runs `nixbucket push --json ARGS`, fails the test unless it
// succeeds, and returns its path lines and summary.
func pushMust(t testing.TB, env []string, args ...string) ([]pushPathLine, pushSummary) {
	t.Helper()
	r := pushRun(t, env, append([]string{"--json"}, args...)...)
	if r.Err != nil {
		t.Fatalf("nixbucket push %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Err, tail(r.Stdout, 4000), tail(r.Stderr, 8000))
	}
	return pushParseJSON(t, r.Stdout)
}

func pushParseJSON(t testing.TB, out string) ([]pushPathLine, pushSummary) {
	t.Helper()
	var paths []pushPathLine
	var sum struct {
		Summary *struct {
			Paths, Pushed, Skipped, Failed int
			NarBytes, FileBytes            int64
			UploadedBytes                  int64
		}
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Bytes()
		if strings.HasPrefix(string(line), `{"summary"`) {
			if err := json.Unmarshal(line, &sum); err != nil {
				t.Fatalf("summary %s: %v", line, err)
			}
			continue
		}
		var p pushPathLine
		if err := json.Unmarshal(line, &p); err != nil {
			t.Fatalf("path line %s: %v", line, err)
		}
		paths = append(paths, p)
	}
	if sum.Summary == nil {
		t.Fatalf("no summary in the --json output:\n%s", out)
	}
	s := sum.Summary
	return paths, pushSummary{Paths: s.Paths, Pushed: s.Pushed, Skipped: s.Skipped, Failed: s.Failed,
		NarBytes: s.NarBytes, FileBytes: s.FileBytes, Uploaded: s.UploadedBytes}
}

// pushWantAll fails the test unless a push settled every path of c with
// status, and the summary agrees.
func pushWantAll(t testing.TB, what string, c *nixClosure, paths []pushPathLine, sum pushSummary, status string) {
	t.Helper()
	got := map[string]string{}
	for _, p := range paths {
		got[p.Path] = p.Status
		if p.Error != "" {
			t.Errorf("%s: %s: %s", what, p.Path, p.Error)
		}
	}
	for _, p := range c.Paths {
		if got[p] != status {
			t.Errorf("%s: %s is %q, want %q", what, p, got[p], status)
		}
	}
	n := len(c.Paths)
	want := pushSummary{Paths: n}
	switch status {
	case "pushed":
		want.Pushed = n
	case "skipped":
		want.Skipped = n
	}
	if sum.Paths != want.Paths || sum.Pushed != want.Pushed || sum.Skipped != want.Skipped || sum.Failed != 0 {
		t.Errorf("%s: summary %+v, want %d paths %s", what, sum, n, status)
	}
	if status == "skipped" && sum.Uploaded != 0 {
		t.Errorf("%s: uploaded %d bytes, want none", what, sum.Uploaded)
	}
}

// pushGenerateKey makes a signing key pair with nix-store and returns the
// secret key file and the public key.
func pushGenerateKey(t testing.TB, name string) (secretFile, public string) {
	t.Helper()
	dir := t.TempDir()
	secretFile, pubFile := filepath.Join(dir, "secret"), filepath.Join(dir, "public")
	nixMust(t, "nix-store", "--generate-binary-cache-key", name, secretFile, pubFile)
	pub, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	return secretFile, strings.TrimSpace(string(pub))
}

// pushInterrupt runs push with args, whose store URL must send its S3
// requests to addr, a partHolder's. Once the server holds one of the
// push's upload parts (so the multipart upload exists and cannot
// complete), it sends sig to the push, waits for it to exit, and only then
// lets the held part go on. The kill so always lands mid-upload.
func pushInterrupt(t testing.TB, env []string, h *partHolder, sig syscall.Signal, args ...string) cmdResult {
	t.Helper()
	cmd := exec.Command(pushBinary(t), append([]string{"push"}, args...)...)
	cmd.Env = env
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer h.release()
	select {
	case err := <-exited:
		t.Fatalf("push ended (%v) before it sent an upload part\n%s", err, tail(stderr.String(), 4000))
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("no upload part after 2 minutes")
	case <-h.held:
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		return cmdResult{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("push still running a minute after %v", sig)
	}
	return cmdResult{}
}
