package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSilentSocketFlood opens NIXBUCKET_SILENT_SOCKETS (opt-in; 20000 is
// the case the connection cap was built for) connections to nixbucket
// serve that never send a byte, then checks that a new client is served
// within the header timeout (10 s). Before the cap, the silent sockets
// took every file descriptor the server had and held them for the idle
// timeout (2 min), and accept failed for everyone in the meantime.
func TestSilentSocketFlood(t *testing.T) {
	setupTarget(t)
	if target != targetNixbucket {
		t.Skip("nixbucket's connection cap")
	}
	// The short version (CI) floods 2,000 sockets against a cap of 500;
	// NIXBUCKET_SILENT_SOCKETS=20000 is the full one, against the default
	// cap derived from the inherited fd limit.
	n, _ := strconv.Atoi(os.Getenv("NIXBUCKET_SILENT_SOCKETS"))
	var args []string
	if n <= 0 {
		n, args = 2000, []string{"--max-conns", "500"}
	}
	s := startServerDir(t, t.TempDir(), args...)
	// One process cannot hold that many sockets within its own open-file
	// limit, so helpers, this test binary run again, hold them.
	const perHelper = 5000
	start := time.Now()
	var holders []*exec.Cmd
	defer func() {
		for _, h := range holders {
			h.Process.Kill()
			h.Wait()
		}
	}()
	for left := n; left > 0; left -= perHelper {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "NIXBUCKET_SILENT_HOLD="+s.Addr+","+strconv.Itoa(min(left, perHelper)))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		holders = append(holders, cmd)
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "holding ") {
			t.Fatalf("socket holder: %q, %v", line, err)
		}
		t.Log(strings.TrimSpace(line))
	}
	t.Logf("%d silent sockets connected in %v", n, time.Since(start))

	start = time.Now()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Get(s.Endpoint + "/")
	if err != nil {
		t.Fatalf("a new client among %d silent sockets: %v after %v", n, err, time.Since(start))
	}
	resp.Body.Close()
	t.Logf("a new client among %d silent sockets: %s in %v", n, resp.Status, time.Since(start))
}

// holdSilentSockets is TestSilentSocketFlood's helper process (see
// TestMain): given "ADDR,COUNT" it connects COUNT sockets to ADDR, says so
// on stdout, and holds them, silent, until killed.
func holdSilentSockets(spec string) {
	addr, count, _ := strings.Cut(spec, ",")
	n, _ := strconv.Atoi(count)
	var mu sync.Mutex
	var socks []net.Conn
	var wg sync.WaitGroup
	failed := 0
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				c, err := net.DialTimeout("tcp", addr, 10*time.Second)
				mu.Lock()
				if err != nil {
					failed++
				} else {
					socks = append(socks, c)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("holding %d silent sockets (%d dials failed)\n", len(socks), failed)
	select {}
}
