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
)

// TestSystemdNotify runs `nixbucket serve` as systemd runs a Type=notify
// unit: with $NOTIFY_SOCKET naming a datagram socket. READY=1 must come
// only once the port accepts connections (systemd then starts what needs
// the cache), and STOPPING=1 when SIGTERM starts the shutdown.
func TestSystemdNotify(t *testing.T) {
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("%s does not speak sd_notify", target)
	}
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(serverBin, "serve", "--listen", addr, "--data", t.TempDir())
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	var log syncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("server log:\n%s", tail(log.String(), 8000))
		}
	}()

	recv := func() string {
		t.Helper()
		// A guard against a hang only, not a timed assertion.
		_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("reading the notify socket: %v", err)
		}
		return string(buf[:n])
	}
	if got := recv(); !strings.Contains(got, "READY=1") {
		t.Fatalf("first notification %q, want READY=1", got)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("READY=1 came, but %s refuses connections: %v", addr, err)
	}
	c.Close()
	resp, err := http.Get("http://" + addr + "/nix-cache/nix-cache-info")
	if err != nil {
		t.Fatalf("after READY=1: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after READY=1, anonymous GET /nix-cache/nix-cache-info: %s, want 401", resp.Status)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := recv(); !strings.Contains(got, "STOPPING=1") {
		t.Fatalf("notification after SIGTERM %q, want STOPPING=1", got)
	}
	if err := <-exited; err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	exited <- nil
}
