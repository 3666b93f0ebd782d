package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one running server under test, on loopback, path-style.
type Server struct {
	Target    string // targetNixbucket or targetVersitygw
	Addr      string // 127.0.0.1:PORT
	Endpoint  string // http://127.0.0.1:PORT
	Dir       string // the data directory
	Region    string
	Args      []string // more arguments to nixbucket serve
	Env       []string // more environment variables for nixbucket serve
	AccessKey string
	SecretKey string
	// AWSConfig and AWSCredentials are an AWS config/credentials file pair
	// with the profiles "nixbucket" (region us-east-1, default signing) and
	// "nixbucket-v4" (same, but signature_version = s3v4 for presigning).
	AWSConfig, AWSCredentials string
	// Output, when set before the start, gets the server's stdout and
	// stderr instead of the buffer the test shows when it fails (a pipe
	// the test never reads, say).
	Output *os.File

	t       testing.TB
	stores  *dirStores // the matrix's external stores (stores_test.go), or nil
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	stderr  *syncBuffer
}

// Quirks of the reference server that the client cases tolerate: short
// names (also passed to the Python script) and what is missing. They apply
// only to target versitygw, never to nixbucket.
const (
	quirkNoSigV2      = "nosigv2"
	quirkStrictRegion = "strictregion"
	quirkQuietDelete  = "quietdelete"
	quirkUnknownKey   = "unknownkey"
	quirkOwnedAgain   = "ownedagain"
	quirkUploadMarker = "uploadmarker"
)

// versitygwQuirks describes what versitygw v1.8.0 does differently from
// AWS (and from what nixbucket must do).
var versitygwQuirks = map[string]string{
	quirkNoSigV2:      "versitygw has no SigV2 presigned URLs",
	quirkStrictRegion: "versitygw rejects signatures scoped to another region",
	quirkQuietDelete:  "versitygw lists Deleted keys in Quiet DeleteObjects",
	quirkUnknownKey:   "versitygw answers an unknown access key with 404 XAdminUserNotFound",
	quirkOwnedAgain:   "versitygw answers BucketAlreadyOwnedByYou to the owner re-creating a bucket in us-east-1, where AWS answers 200",
	quirkUploadMarker: "versitygw refuses the key marker of a ListMultipartUploads page that ended in a common prefix (InvalidArgument: Invalid uploadId marker)",
}

// hasQuirk reports whether the server under test is known to lack a
// behaviour that nixbucket must have.
func (s *Server) hasQuirk(q string) bool {
	return s.Target == targetVersitygw && versitygwQuirks[q] != ""
}

// quirks lists the server's quirks by short name.
func (s *Server) quirks() []string {
	var out []string
	for q := range versitygwQuirks {
		if s.hasQuirk(q) {
			out = append(out, q)
		}
	}
	slices.Sort(out)
	return out
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServer starts the server under test on a fresh data directory and
// stops it when the test ends.
func startServer(t testing.TB) *Server {
	t.Helper()
	return startServerDir(t, t.TempDir())
}

// startServerDir starts the server under test on dir, which may hold the
// data of an earlier run.
func startServerDir(t testing.TB, dir string, args ...string) *Server {
	t.Helper()
	return startServerArgs(t, dir, "http", args...)
}

// startServerArgs starts nixbucket serve on dir with more arguments,
// reached at scheme://ADDR.
func startServerArgs(t testing.TB, dir, scheme string, args ...string) *Server {
	t.Helper()
	return startServerEnv(t, dir, scheme, nil, args...)
}

// startServerEnv is startServerArgs with more environment variables.
func startServerEnv(t testing.TB, dir, scheme string, env []string, args ...string) *Server {
	t.Helper()
	s := newServer(t, dir, env, args...)
	s.opened(s.launch(scheme))
	return s
}

// newServer is the server under test on dir, not yet started.
func newServer(t testing.TB, dir string, env []string, args ...string) *Server {
	t.Helper()
	setupTarget(t)
	s := &Server{Target: target, Dir: dir, Region: "us-east-1", Args: args, Env: env, t: t, stderr: &syncBuffer{}}
	if target == targetVersitygw {
		s.AccessKey, s.SecretKey = "E2EROOTACCESSKEY", "e2e-root-secret-key-for-versitygw"
	}
	if !hasFlag(args, "--meta") {
		s.stores = externalStores(t, dir, args)
	}
	return s
}

// launch starts s on a free port, reached at scheme://ADDR, and stops it
// when the test ends. It reports rather than fails, so that several
// servers may be launched at once from other goroutines; opened then
// fails the test on the error.
func (s *Server) launch(scheme string) error {
	var err error
	for range 3 { // a port picked free may be taken before the server binds it
		var port int
		if port, err = freePort(); err != nil {
			return err
		}
		s.Addr = fmt.Sprintf("127.0.0.1:%d", port)
		s.Endpoint = scheme + "://" + s.Addr
		if err = s.start(); err == nil {
			break
		}
		if !strings.Contains(s.stderr.String(), "address already in use") {
			break
		}
	}
	s.t.Cleanup(func() { s.stop() })
	return err
}

// opened fails the test if launch failed, and otherwise reads the
// server's admin credentials and writes the client files.
func (s *Server) opened(err error) {
	t := s.t
	t.Helper()
	if err != nil {
		t.Fatalf("start %s: %v\nserver stderr:\n%s", s.Target, err, tail(s.stderr.String(), 8000))
	}
	if s.AccessKey == "" {
		if err := s.readCredentials(); err != nil {
			t.Fatalf("%v\nserver stderr:\n%s", err, tail(s.stderr.String(), 8000))
		}
	}
	s.writeAWSFiles()
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start launches the process on s.Addr and waits until it accepts
// connections.
func (s *Server) start() error {
	var cmd *exec.Cmd
	switch s.Target {
	case targetVersitygw:
		cmd = exec.Command(serverBin, "--port", s.Addr, "--quiet", "posix", s.Dir)
		cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey)
	default:
		args := append([]string{"serve", "--listen", s.Addr, "--data", s.Dir}, s.Args...)
		cmd = exec.Command(serverBin, append(args, s.stores.serveArgs(s.Args)...)...)
		cmd.Env = append(os.Environ(), s.Env...)
		if s.stores != nil {
			cmd.Env = append(cmd.Env, s.stores.env...)
		}
	}
	fmt.Fprintf(s.stderr, "=== %s start: %s\n", time.Now().Format(time.TimeOnly), strings.Join(cmd.Args, " "))
	cmd.Stdout = s.stderr
	cmd.Stderr = s.stderr
	if s.Output != nil {
		cmd.Stdout, cmd.Stderr = s.Output, s.Output
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", serverBin, err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("server exited before accepting connections: %v", s.waitErr)
		default:
		}
		err := s.ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("server not accepting connections on %s after 15s: %w", s.Addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ready reports whether the server answers: for nixbucket, a 200 from
// /-/health, which comes only once its data directory is open (it binds
// its port before, so an accepted connection says nothing of the
// credentials files); for others, an accepted connection.
func (s *Server) ready() error {
	if s.Target == targetVersitygw {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // only asks whether it is up
	}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get(s.Endpoint + "/-/health")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/-/health answers %s", resp.Status)
	}
	return nil
}

// readCredentials reads the [nixbucket] profile from DIR/credentials.
func (s *Server) readCredentials() error {
	path := filepath.Join(s.Dir, "credentials")
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("server credentials: %w", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		return fmt.Errorf("%s has mode %v, want 0600", path, perm)
	}
	prof, err := parseINI(path)
	if err != nil {
		return err
	}
	p := prof["nixbucket"]
	s.AccessKey, s.SecretKey = p["aws_access_key_id"], p["aws_secret_access_key"]
	if s.AccessKey == "" || s.SecretKey == "" {
		return fmt.Errorf("%s: no aws_access_key_id/aws_secret_access_key under [nixbucket]", path)
	}
	return nil
}

// parseINI reads an AWS-style INI file into section → key → value.
func parseINI(path string) (map[string]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	defer f.Close()
	out := map[string]map[string]string{}
	var sec map[string]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			sec = map[string]string{}
			out[strings.TrimSpace(line[1:len(line)-1])] = sec
		case sec != nil:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return nil, fmt.Errorf("parse %s: bad line %q", path, line)
			}
			sec[strings.TrimSpace(k)] = strings.TrimSpace(v)
		default:
			return nil, fmt.Errorf("parse %s: line %q outside a section", path, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return out, nil
}

// writeAWSFiles writes the AWS config and credentials files for the CLI
// clients.
func (s *Server) writeAWSFiles() {
	dir := s.t.TempDir()
	s.AWSConfig = filepath.Join(dir, "config")
	s.AWSCredentials = filepath.Join(dir, "credentials")
	config := fmt.Sprintf(`[profile nixbucket]
region = %[1]s

[profile nixbucket-v4]
region = %[1]s
s3 =
    signature_version = s3v4
`, s.Region)
	creds := fmt.Sprintf(`[nixbucket]
aws_access_key_id = %[1]s
aws_secret_access_key = %[2]s

[nixbucket-v4]
aws_access_key_id = %[1]s
aws_secret_access_key = %[2]s
`, s.AccessKey, s.SecretKey)
	for path, body := range map[string]string{s.AWSConfig: config, s.AWSCredentials: creds} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			s.t.Fatal(err)
		}
	}
}

// clientEnv returns the environment for a client program: the test's
// environment without any AWS or rclone settings (AWS_CA_BUNDLE, set
// machine-wide, breaks rclone's AWS SDK and is useless over http), plus
// the AWS file pair,
// and proxies that make any attempt to reach a real (https) AWS endpoint
// fail at once, while loopback stays direct.
func (s *Server) clientEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		uk := strings.ToUpper(k)
		if strings.HasPrefix(uk, "AWS_") || strings.HasPrefix(uk, "RCLONE_") || strings.HasSuffix(uk, "_PROXY") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"AWS_CONFIG_FILE="+s.AWSConfig,
		"AWS_SHARED_CREDENTIALS_FILE="+s.AWSCredentials,
		"AWS_EC2_METADATA_DISABLED=true",
		"https_proxy=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9",
		"http_proxy=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9",
		"no_proxy=127.0.0.1,localhost", "NO_PROXY=127.0.0.1,localhost",
	)
	return append(env, extra...)
}

// Kill sends SIGKILL and waits for the process to go, as a crash would.
func (s *Server) Kill() {
	s.t.Helper()
	fmt.Fprintf(s.stderr, "=== %s SIGKILL\n", time.Now().Format(time.TimeOnly))
	s.kill()
}

func (s *Server) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// Restart starts the server again on the same data directory and address,
// after Kill or Stop.
func (s *Server) Restart() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatal("Restart: server still running")
	}
	if err := s.start(); err != nil {
		s.t.Fatalf("restart %s: %v\nserver stderr:\n%s", s.Target, err, tail(s.stderr.String(), 8000))
	}
}

// Stop shuts the server down with SIGTERM and waits; for nixbucket a
// non-zero exit is a test failure (shutdown must be graceful).
func (s *Server) Stop() {
	s.t.Helper()
	if err := s.terminate(); err != nil {
		s.t.Errorf("stop %s: %v", s.Target, err)
	}
}

func (s *Server) terminate() error {
	if s.cmd == nil {
		return nil
	}
	defer func() { s.cmd = nil }()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.exited
		return errors.New("did not exit within 15s of SIGTERM")
	}
	if s.Target == targetNixbucket && s.waitErr != nil {
		return fmt.Errorf("exit after SIGTERM: %w", s.waitErr)
	}
	return nil
}

// stop is the cleanup: stop the process and show its log if the test failed.
func (s *Server) stop() {
	if err := s.terminate(); err != nil {
		s.t.Errorf("stop %s: %v", s.Target, err)
	}
	if s.t.Failed() {
		s.t.Logf("%s stderr (tail):\n%s", s.Target, tail(s.stderr.String(), 16000))
	}
}
