package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// TestGracefulStop stops nixbucket serve with SIGTERM while a PUT (always
// served by net/http) and a big GET (on the fast lane, or on net/http with
// --fastlane=false) are in flight. With grace enough, both complete and the
// process exits 0; with a short grace, both are cut, the log says how many,
// and the process still exits 0 (it used to exit 1 after a fixed 30 s).
func TestGracefulStop(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		finish bool
	}{
		{"fastlane/grace-enough", []string{"--shutdown-grace", "60s"}, true},
		{"fastlane/grace-short", []string{"--shutdown-grace", "1s"}, false},
		{"net-http/grace-enough", []string{"--shutdown-grace", "60s", "--fastlane=false"}, true},
		{"net-http/grace-short", []string{"--shutdown-grace", "1s", "--fastlane=false"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setupTarget(t)
			if target != targetNixbucket {
				t.Skip("nixbucket's own flags")
			}
			testGracefulStop(t, tc.args, tc.finish)
		})
	}
}

func testGracefulStop(t *testing.T, args []string, finish bool) {
	s := startServerDir(t, t.TempDir(), args...)
	c := minioCore(t, s)
	ctx := context.Background()
	const bucket, big, up = "graceful", "nar/big.nar", "nar/up.nar"
	const bigSize, upSize = 64 << 20, 8 << 20
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	bigSum := putSeeded(t, c, bucket, big, bigSize, 91)

	// The GET: its first MiB read, the rest (more than the socket buffers
	// hold) still to send.
	body, _, _, err := c.GetObject(ctx, bucket, big, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	got := sha256.New()
	if _, err := io.CopyN(got, body, 1<<20); err != nil {
		t.Fatal(err)
	}

	// The PUT: its first MiB sent, the rest held back.
	pr, pw := io.Pipe()
	defer pw.CloseWithError(errors.New("test over"))
	upData := bytes.Repeat([]byte("upload! "), upSize/8)
	putErr := make(chan error, 1)
	go func() {
		_, err := c.PutObject(ctx, bucket, up, pr, upSize, "", "", minio.PutObjectOptions{DisableContentSha256: true})
		putErr <- err
	}()
	if _, err := pw.Write(upData[:1<<20]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the server is reading the body

	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
		t.Fatalf("exited at once with requests in flight: %v", s.waitErr)
	case <-time.After(500 * time.Millisecond):
	}

	if finish {
		if _, err := pw.Write(upData[1<<20:]); err != nil {
			t.Fatalf("PUT body after SIGTERM: %v", err)
		}
		if err := <-putErr; err != nil {
			t.Fatalf("PUT in flight at SIGTERM: %v", err)
		}
		if n, err := io.Copy(got, body); err != nil || n != bigSize-1<<20 {
			t.Fatalf("GET in flight at SIGTERM: %d more bytes, %v", n, err)
		}
		if sum := hex.EncodeToString(got.Sum(nil)); sum != bigSum {
			t.Fatalf("GET in flight at SIGTERM: sha256 %s, want %s", sum, bigSum)
		}
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30s after SIGTERM")
	}
	s.cmd = nil // stopped: the cleanup has nothing to do
	if s.waitErr != nil {
		t.Fatalf("exit after SIGTERM: %v", s.waitErr)
	}
	log := s.stderr.String()
	if finish {
		if strings.Contains(log, "cut the requests") {
			t.Error("the log says requests were cut although the grace was enough")
		}
		s.Restart()
		if n, sum := objectSHA256(t, minioCore(t, s), bucket, up); n != upSize {
			t.Errorf("the PUT finished during the stop left %d bytes (sha256 %s), want %d", n, sum, upSize)
		}
		return
	}
	if !strings.Contains(log, "cut the requests still in flight") || !strings.Contains(log, "cut=2") {
		t.Errorf("the log does not say that 2 requests were cut:\n%s", tail(log, 4000))
	}
	pw.CloseWithError(errors.New("test over"))
	if err := <-putErr; err == nil {
		t.Error("the cut PUT succeeded")
	}
	if n, err := io.Copy(got, body); err == nil && n == bigSize-1<<20 {
		t.Error("the cut GET got its whole body")
	}
}
