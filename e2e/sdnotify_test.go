package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/tlsconf/tlstest"
)

// notifyServer is `nixbucket serve` run as systemd runs a Type=notify
// unit: with $NOTIFY_SOCKET naming a datagram socket the test reads.
type notifyServer struct {
	t      *testing.T
	addr   string
	conn   *net.UnixConn
	cmd    *exec.Cmd
	exited chan error
}

// startNotifyServer starts nixbucket serve with more arguments and a
// notify socket of the test's.
func startNotifyServer(t *testing.T, args ...string) *notifyServer {
	t.Helper()
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("%s does not speak sd_notify", target)
	}
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &notifyServer{t: t, addr: fmt.Sprintf("127.0.0.1:%d", port), conn: conn, exited: make(chan error, 1)}
	dir := t.TempDir()
	stores := externalStores(t, dir, args) // on the matrix's stores too
	s.cmd = exec.Command(serverBin, append(append([]string{"serve", "--listen", s.addr, "--data", dir}, args...), stores.serveArgs(args)...)...)
	s.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	if stores != nil {
		s.cmd.Env = append(s.cmd.Env, stores.env...)
	}
	var log syncBuffer
	s.cmd.Stdout, s.cmd.Stderr = &log, &log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("server log:\n%s", tail(log.String(), 8000))
		}
		s.exited <- nil
	})
	return s
}

// want reads the next notification and fails the test unless it holds
// state.
func (s *notifyServer) want(state, when string) {
	s.t.Helper()
	// A guard against a hang only, not a timed assertion.
	_ = s.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	buf := make([]byte, 4096)
	n, err := s.conn.Read(buf)
	if err != nil {
		s.t.Fatalf("%s: reading the notify socket: %v", when, err)
	}
	if got := string(buf[:n]); !strings.Contains(got, state) {
		s.t.Fatalf("%s: notification %q, want %s", when, got, state)
	}
}

// signal sends sig to the server.
func (s *notifyServer) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatal(err)
	}
}

// stop sends SIGTERM, expects STOPPING=1, and a clean exit.
func (s *notifyServer) stop() {
	s.t.Helper()
	s.signal(syscall.SIGTERM)
	s.want("STOPPING=1", "after SIGTERM")
	if err := <-s.exited; err != nil {
		s.t.Fatalf("exit after SIGTERM: %v", err)
	}
	s.exited <- nil
}

// TestSystemdNotify checks the Type=notify protocol: READY=1 only once the
// port accepts connections (systemd then starts what needs the cache),
// and STOPPING=1 when SIGTERM starts the shutdown.
func TestSystemdNotify(t *testing.T) {
	s := startNotifyServer(t)
	s.want("READY=1", "first notification")
	resp, err := http.Get("http://" + s.addr + "/nix-cache/nix-cache-info")
	if err != nil {
		t.Fatalf("READY=1 came, but: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after READY=1, anonymous GET /nix-cache/nix-cache-info: %s, want 401", resp.Status)
	}
	s.stop()
}

// TestSystemdNotifyReload checks that a SIGHUP certificate reload is
// reported as systemd's reload protocol wants: RELOADING=1, then READY=1.
func TestSystemdNotifyReload(t *testing.T) {
	ca := tlstest.NewCA(t, "nixbucket e2e CA")
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.Issue(t, cert, key, "first", "127.0.0.1", "localhost")
	s := startNotifyServer(t, "--tls-cert", cert, "--tls-key", key)
	s.want("READY=1", "first notification")
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatalf("READY=1 came, but %s refuses connections: %v", s.addr, err)
	}
	c.Close()
	s.signal(syscall.SIGHUP)
	s.want("RELOADING=1", "after SIGHUP")
	s.want("READY=1", "after the reload")
	s.stop()
}
