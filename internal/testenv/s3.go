package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// S3 is an S3 store for tests: a versitygw (posix backend, temp dir)
// started once per test binary.
type S3 struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Region    string
	root      string
}

var s3store struct {
	once sync.Once
	s    *S3
	cmd  *exec.Cmd
	// exited closes once cmd was waited for, by the one goroutine that
	// waits (a second Wait would race with it).
	exited chan struct{}
	dir    string
	err    error
}

// S3Store returns the tests' S3 store: the one scripts/test.sh started
// (NIXBUCKET_TEST_S3_ENDPOINT, _ROOT, _ACCESS_KEY, _SECRET_KEY), or else a
// versitygw this test binary starts on first use. It skips the test when
// versitygw is missing, or fails it under CI. Test binaries that use it
// call StopS3Store from TestMain after m.Run.
func S3Store(t testing.TB) *S3 {
	t.Helper()
	s3store.once.Do(startS3)
	if s3store.err != nil {
		if errors.Is(s3store.err, exec.ErrNotFound) {
			SkipOrFail(t, s3store.err.Error())
		}
		t.Fatalf("starting the S3 store: %v", s3store.err)
	}
	return s3store.s
}

// NewBucket creates a fresh, empty bucket in the store and returns its
// name. versitygw's posix backend keeps a bucket as a directory of its
// root, so a new directory is a new bucket.
func (s *S3) NewBucket(t testing.TB) string {
	t.Helper()
	var raw [6]byte
	rand.Read(raw[:])
	name := "test-" + hex.EncodeToString(raw[:])
	if err := os.Mkdir(filepath.Join(s.root, name), 0o755); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	return name
}

// ObjectPath returns the file that holds key in bucket, for tests that
// change an object behind the store's API.
func (s *S3) ObjectPath(bucket, key string) string {
	return filepath.Join(s.root, bucket, filepath.FromSlash(key))
}

// Env returns AWS_* variables that point the default credential chain at
// the store, for child processes.
func (s *S3) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.SecretKey, "AWS_REGION=" + s.Region}
}

// RunS3 is the TestMain of a package whose tests use S3Store: it runs
// them without AWS_CA_BUNDLE (aws-sdk-go-v2 fails when it names a bundle
// it cannot use with a plain-http endpoint's client, and these tests
// need none), then stops the store, and returns m.Run's code.
func RunS3(m *testing.M) int {
	os.Unsetenv("AWS_CA_BUNDLE")
	code := m.Run()
	StopS3Store()
	return code
}

// StopS3Store stops the store if S3Store started it and removes its data.
func StopS3Store() {
	if s3store.cmd != nil {
		s3store.cmd.Process.Kill()
		<-s3store.exited
	}
	if s3store.dir != "" {
		os.RemoveAll(s3store.dir)
	}
}

func startS3() {
	if ep := os.Getenv("NIXBUCKET_TEST_S3_ENDPOINT"); ep != "" {
		s3store.s = &S3{Endpoint: ep, Region: "us-east-1",
			AccessKey: os.Getenv("NIXBUCKET_TEST_S3_ACCESS_KEY"), SecretKey: os.Getenv("NIXBUCKET_TEST_S3_SECRET_KEY"),
			root: os.Getenv("NIXBUCKET_TEST_S3_ROOT")}
		if fi, err := os.Stat(s3store.s.root); err != nil || !fi.IsDir() {
			s3store.err = fmt.Errorf("NIXBUCKET_TEST_S3_ROOT %q: not the store's directory (%v)", s3store.s.root, err)
		}
		return
	}
	bin, err := findVersitygw()
	if err != nil {
		s3store.err = err
		return
	}
	dir, err := os.MkdirTemp("", "nixbucket-s3store-")
	if err != nil {
		s3store.err = err
		return
	}
	s3store.dir = dir
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		s3store.err = err
		return
	}
	s := &S3{AccessKey: "TESTSTOREACCESSKEY", SecretKey: "test-store-secret-key-for-versitygw", Region: "us-east-1", root: root}
	for range 3 { // a port picked free may be taken before versitygw binds it
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			s3store.err = err
			return
		}
		addr := l.Addr().String()
		l.Close()
		log, _ := os.Create(filepath.Join(dir, "versitygw.log"))
		// --keep-alive: as real stores do; without it versitygw closes
		// every connection after one answer.
		cmd := exec.Command(bin, "--port", addr, "--keep-alive", "--quiet", "posix", root)
		cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the tests
		if err := cmd.Start(); err != nil {
			s3store.err = fmt.Errorf("start versitygw: %w", err)
			return
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if WaitListening(addr, exited, 15*time.Second) {
			s3store.cmd, s3store.exited = cmd, exited
			s.Endpoint = "http://" + addr
			s3store.s = s
			return
		}
		cmd.Process.Kill()
		<-exited
		out, _ := os.ReadFile(filepath.Join(dir, "versitygw.log"))
		s3store.err = fmt.Errorf("versitygw did not start on %s: %s", addr, strings.TrimSpace(string(out)))
	}
}

// WaitListening waits until addr accepts a connection, and reports
// whether it did before exited closed (the process serving it died) or
// limit passed.
func WaitListening(addr string, exited <-chan struct{}, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// findVersitygw locates versitygw on PATH or in $HOME/go/bin (where go
// install puts it); the error wraps exec.ErrNotFound when it is missing.
func findVersitygw() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = filepath.SplitList(gp)
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("versitygw not found on PATH or in GOPATH/bin (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0): %w", exec.ErrNotFound)
}
