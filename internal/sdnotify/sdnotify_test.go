package sdnotify

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// listen opens a unixgram socket like systemd's notify socket.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// recv reads one datagram.
func recv(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	// Only a guard against a hang: the datagram is already queued.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestSend(t *testing.T) {
	cases := map[string]string{
		"path":     filepath.Join(t.TempDir(), "notify"),
		"abstract": fmt.Sprintf("@nixbucket-sdnotify-test-%d", os.Getpid()),
	}
	for name, sock := range cases {
		t.Run(name, func(t *testing.T) {
			c := listen(t, sock)
			t.Setenv("NOTIFY_SOCKET", sock)
			for _, state := range []string{Ready, Reloading, Stopping} {
				sent, err := Send(state)
				if !sent || err != nil {
					t.Fatalf("Send(%q) = %v, %v; want true, nil", state, sent, err)
				}
				if got := recv(t, c); got != state {
					t.Errorf("received %q, want %q", got, state)
				}
			}
		})
	}
}

func TestSendUnset(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if sent, err := Send(Ready); sent || err != nil {
		t.Fatalf("Send without NOTIFY_SOCKET = %v, %v; want false, nil", sent, err)
	}
}

func TestSendErrors(t *testing.T) {
	for _, sock := range []string{"relative/notify", filepath.Join(t.TempDir(), "absent")} {
		t.Setenv("NOTIFY_SOCKET", sock)
		if sent, err := Send(Ready); sent || err == nil {
			t.Errorf("Send to %q = %v, %v; want an error", sock, sent, err)
		}
	}
}
