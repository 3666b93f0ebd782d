package e2e

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateGolden = flag.Bool("update-info", false, "rewrite testdata/info.golden from this run's nixbucket info")

// bannerStart starts nixbucket serve --listen listen on dir, reached at
// 127.0.0.1:port, and returns it once it serves.
func bannerStart(t *testing.T, dir, listen string, port int) *Server {
	t.Helper()
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("the banner is nixbucket's, not %s's", target)
	}
	s := newServer(t, dir, nil, "--listen", listen) // on the matrix's stores too
	s.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	s.Endpoint = "http://" + s.Addr
	if err := s.start(); err != nil {
		t.Fatalf("serve --listen %s: %v\nstderr:\n%s", listen, err, tail(s.stderr.String(), 8000))
	}
	t.Cleanup(s.stop)
	// The server answers before its stderr has all reached us through the
	// pipe: wait for the line it logs after the banner.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(s.stderr.String(), "nixbucket serving"); {
		if time.Now().After(deadline) {
			t.Fatalf("serve --listen %s logged no \"nixbucket serving\" line:\n%s", listen, tail(s.stderr.String(), 8000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.readCredentials(); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestServeBindsFirst: when the port is taken, serve fails saying so and
// what to do, and creates nothing, so the next start is still the first
// one and prints the banner.
func TestServeBindsFirst(t *testing.T) {
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("%s is not nixbucket", target)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	data := filepath.Join(t.TempDir(), "data")
	// On the matrix's stores, the failed start gets them too (runCmd), and
	// must leave them as untouched as the data directory.
	externalStores(t, data, nil)
	r := runCmd(t, os.Environ(), "", serverBin, "serve", "--listen", addr, "--data", data)
	l.Close()
	if r.Err == nil {
		t.Fatalf("serve on a taken port succeeded:\n%s", r.Stderr)
	}
	for _, want := range []string{"address already in use", "--listen"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("serve on a taken port: stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("serve on a taken port created %s (%v): the first start's banner is lost", data, err)
	}
	s := bannerStart(t, data, addr, l.Addr().(*net.TCPAddr).Port)
	if !strings.Contains(s.stderr.String(), "nixbucket: first start") {
		t.Errorf("the start after the failed one printed no first-start banner:\n%s", s.stderr.String())
	}
}

// TestBannerListenForms: whatever address serve listens on, the banner
// and nixbucket info name a host a client can use: 127.0.0.1 for the
// wildcard forms (plus this machine's host name), never "::", "0.0.0.0"
// or an empty host.
func TestBannerListenForms(t *testing.T) {
	hostname, _ := os.Hostname()
	for _, form := range []string{":%d", "0.0.0.0:%d", "[::]:%d", "127.0.0.1:%d"} {
		t.Run(strings.ReplaceAll(fmt.Sprintf(form, 0), ":0", ":PORT"), func(t *testing.T) {
			port, err := freePort()
			if err != nil {
				t.Fatal(err)
			}
			listen := fmt.Sprintf(form, port)
			// Not t.TempDir(): its name holds the subtest's, "[::]" and all.
			dir, err := os.MkdirTemp("", "nixbucket-banner-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			s := bannerStart(t, filepath.Join(dir, "data"), listen, port)
			info := mustRun(t, os.Environ(), "", serverBin, "info", "--data", s.Dir)
			ep := fmt.Sprintf("http://127.0.0.1:%d", port)
			banner := s.stderr.String()
			if i := strings.Index(banner, "\nnixbucket: first start"); i >= 0 {
				banner = banner[i:] // after the test's own "=== start" line
			}
			for what, text := range map[string]string{"banner": banner, "info": info} {
				for _, want := range []string{
					"endpoint:          " + ep + "\n",
					"substituter:         " + ep + "/nix-cache\n",
					"machine 127.0.0.1 login " + s.AccessKey + " password SECRET\n",
					fmt.Sprintf("endpoint=127.0.0.1:%d&scheme=http&", port),
					"--endpoint-url " + ep + " ",
				} {
					if !strings.Contains(text, want) {
						t.Errorf("--listen %s: %s lacks %q:\n%s", listen, what, want, text)
					}
				}
				for _, bad := range []string{"machine ::", "machine 0.0.0.0", "machine  ", ":::", "[::]", "0.0.0.0", "http://:", s.SecretKey} {
					if strings.Contains(text, bad) {
						t.Errorf("--listen %s: %s holds %q:\n%s", listen, what, bad, text)
					}
				}
				other := fmt.Sprintf("(from other machines: http://%s:%d)", hostname, port)
				if wild := !strings.HasPrefix(listen, "127."); wild != strings.Contains(text, other) {
					t.Errorf("--listen %s: %s says %q: %v, want %v:\n%s", listen, what, other, !wild, wild, text)
				}
			}
		})
	}
}

// TestInfo: nixbucket info prints the banner again while the server
// runs: the endpoint it listens on, every bucket with its keys, the netrc
// line without the secret (with it under --show-secrets), and with
// --endpoint the URLs of another name. The text is testdata/info.golden,
// with the values of this run replaced by names.
func TestInfo(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s := bannerStart(t, filepath.Join(t.TempDir(), "data"), fmt.Sprintf("127.0.0.1:%d", port), port)
	key := nixServerKey(t, s, nixCacheBucket)
	info := mustRun(t, os.Environ(), "", serverBin, "info", "--data", s.Dir)
	if meta := s.metaURL(); meta != "" {
		// On PostgreSQL the data directory does not lead to the store:
		// the command names it by its URL instead (no password here).
		pg := "nixbucket bucket policy set --meta '" + meta + "' "
		if !strings.Contains(info, pg) {
			t.Errorf("nixbucket info on PostgreSQL lacks %q:\n%s", pg, info)
		}
		info = strings.Replace(info, pg, "nixbucket bucket policy set --data "+s.Dir+" ", 1)
	}
	norm := strings.NewReplacer(s.Dir, "DATA", fmt.Sprint(port), "PORT", s.AccessKey, "ACCESS_KEY_ID", key, "PUBLIC_KEY").Replace(info)
	golden := filepath.Join("testdata", "info.golden")
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(norm), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if norm != string(want) {
		t.Errorf("nixbucket info (normalized) differs from %s (go test ./e2e -run TestInfo -update-info rewrites it):\n%s", golden, norm)
	}
	if strings.Contains(info, s.SecretKey) {
		t.Errorf("nixbucket info prints the admin secret:\n%s", info)
	}
	shown := mustRun(t, os.Environ(), "", serverBin, "info", "--data", s.Dir, "--show-secrets")
	if want := "machine 127.0.0.1 login " + s.AccessKey + " password " + s.SecretKey + "\n"; !strings.Contains(shown, want) {
		t.Errorf("nixbucket info --show-secrets lacks %q:\n%s", want, shown)
	}
	other := mustRun(t, os.Environ(), "", serverBin, "info", "--data", s.Dir, "--endpoint", "https://cache.example.org:9443")
	for _, want := range []string{
		"substituter:         https://cache.example.org:9443/nix-cache\n",
		"machine cache.example.org login " + s.AccessKey,
		"endpoint=cache.example.org:9443&scheme=https&",
	} {
		if !strings.Contains(other, want) {
			t.Errorf("nixbucket info --endpoint: lacks %q:\n%s", want, other)
		}
	}
}

// TestServeDataInUse: a second server on a running server's data
// directory is refused, naming the process that holds it and what to do.
func TestServeDataInUse(t *testing.T) {
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("%s is not nixbucket", target)
	}
	s := startServer(t) // on any metadata store, the lock is in the data directory
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, os.Environ(), "", serverBin, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data", s.Dir)
	want := fmt.Sprintf("nixbucket: data directory %s is in use by another nixbucket server (pid %d): stop it, or give this one a data directory of its own (--data DIR); nixbucket info --data %s shows where it listens\n",
		s.Dir, s.cmd.Process.Pid, s.Dir)
	if r.Err == nil || r.Stderr != want {
		t.Errorf("a second serve on %s: %v, stderr %q; want an error, %q", s.Dir, r.Err, r.Stderr, want)
	}
}
