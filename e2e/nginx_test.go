package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// nginx in front of nixbucket: the README's "Scale out" runs
// contrib/nginx/nixbucket.conf, and so do these tests and bench/scale.sh.

// The example addresses of contrib/nginx/nixbucket.conf that the tests
// replace (bench/scale.sh replaces the same).
const (
	nginxExampleNode1  = "10.0.0.1:9000"
	nginxExampleNode2  = "10.0.0.2:9000"
	nginxExampleListen = "listen 80;"
)

// nginxConfig writes, in a fresh directory, contrib/nginx/nixbucket.conf
// listening on 127.0.0.1:port in front of nodes (one or two host:port),
// and a main nginx.conf that includes it with its pid, logs and temp files
// in that directory. It returns the directory and the main file.
func nginxConfig(t testing.TB, port int, nodes ...string) (dir, conf string) {
	t.Helper()
	if len(nodes) < 1 || len(nodes) > 2 {
		t.Fatalf("nginxConfig: %d nodes, want 1 or 2", len(nodes))
	}
	src, err := os.ReadFile(filepath.Join(repoRoot, "contrib", "nginx", "nixbucket.conf"))
	if err != nil {
		t.Fatal(err)
	}
	body := string(src)
	for _, s := range []string{nginxExampleNode1, nginxExampleNode2, nginxExampleListen} {
		if n := strings.Count(body, s); n != 1 {
			t.Fatalf("contrib/nginx/nixbucket.conf has %q %d times, want once (bench/scale.sh and this test replace it)", s, n)
		}
	}
	body = strings.Replace(body, nginxExampleNode1, nodes[0], 1)
	if len(nodes) == 2 {
		body = strings.Replace(body, nginxExampleNode2, nodes[1], 1)
	} else {
		var kept []string
		for line := range strings.Lines(body) {
			if !strings.Contains(line, nginxExampleNode2) {
				kept = append(kept, line)
			}
		}
		body = strings.Join(kept, "")
	}
	body = strings.Replace(body, nginxExampleListen, fmt.Sprintf("listen 127.0.0.1:%d;", port), 1)

	// nginx's workers run as nobody when the tests run as root: they must
	// reach the directory (t.TempDir makes it and its parent 0700).
	dir = t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "nixbucket.conf"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
daemon off;
events {
	worker_connections 256;
}
http {
	access_log %[1]s/access.log;
	client_body_temp_path %[1]s/client_body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	include %[1]s/nixbucket.conf;
}
`, dir)
	conf = filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, conf
}

// TestNginxContribConfig: nginx accepts contrib/nginx/nixbucket.conf
// with ports filled in, in front of two nodes and of one.
func TestNginxContribConfig(t *testing.T) {
	ngx := need(t, "nginx")
	for _, nodes := range [][]string{{"127.0.0.1:1", "127.0.0.1:2"}, {"127.0.0.1:1"}} {
		dir, conf := nginxConfig(t, 3, nodes...)
		r := runCmd(t, os.Environ(), dir, ngx, "-t", "-p", dir+"/", "-c", conf, "-e", filepath.Join(dir, "error.log"))
		if r.Err != nil {
			t.Errorf("nginx -t with %d node(s): %v\n%s%s", len(nodes), r.Err, r.Stdout, r.Stderr)
		}
	}
}

// startNginx runs contrib/nginx/nixbucket.conf in front of nodes on a
// free port, stopped when the test ends, and returns its endpoint.
func startNginx(t testing.TB, ngx string, nodes ...string) string {
	t.Helper()
	var lastErr error
	for range 3 { // a port picked free may be taken before nginx binds it
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		dir, conf := nginxConfig(t, port, nodes...)
		cmd := exec.Command(ngx, "-p", dir+"/", "-c", conf, "-e", filepath.Join(dir, "error.log"))
		out, err := os.Create(filepath.Join(dir, "stdout.log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = nginxProcAttr()
		if err := cmd.Start(); err != nil {
			t.Fatalf("start nginx: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); out.Close(); close(exited) }()
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if testenv.WaitListening(addr, exited, 10*time.Second) {
			t.Cleanup(func() {
				stopNginx(cmd, exited)
				if t.Failed() {
					log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
					t.Logf("nginx error.log:\n%s", tail(string(log), 8000))
				}
			})
			return "http://" + addr
		}
		stopNginx(cmd, exited)
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		lastErr = fmt.Errorf("nginx did not listen on %s: %s", addr, tail(string(log), 2000))
		if !strings.Contains(string(log), "Address already in use") {
			break
		}
	}
	t.Fatal(lastErr)
	return ""
}

// TestScaleOutBehindNginx: two nodes on one PostgreSQL database and one S3
// store, behind nginx running contrib/nginx/nixbucket.conf. The aws CLI's
// SigV4 signatures survive the proxy (Host with its port, path and query
// passed unchanged); a 20 MiB multipart upload, whose parts nginx spreads
// over both nodes, and a 5 MiB single PUT stream through it and come back
// whole through it and from each node directly.
func TestScaleOutBehindNginx(t *testing.T) {
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("%s is not nixbucket", target)
	}
	ngx := need(t, "nginx")
	need(t, "aws")
	pg := testenv.Postgres(t)
	st := testenv.S3Store(t)
	blobs := "s3://" + st.NewBucket(t) + "/cache?endpoint=" + st.Endpoint
	env := append(st.Env(), "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_PROFILE=")
	args := []string{"--meta", pg, "--blobs", blobs} // the access log names each request
	// One after the other: the first start on an empty database makes the
	// admin key, which the second finds.
	a := startServerEnv(t, t.TempDir(), "http", env, args...)
	b := startServerEnv(t, t.TempDir(), "http", env, args...)
	if a.AccessKey != b.AccessKey {
		t.Fatalf("the nodes wrote different admin keys: %s and %s", a.AccessKey, b.AccessKey)
	}
	front := startNginx(t, ngx, a.Addr, b.Addr)

	cliEnv := a.clientEnv()
	dir := t.TempDir()
	aws := func(endpoint string, args ...string) string {
		t.Helper()
		return mustRun(t, cliEnv, dir, "aws", append([]string{"--endpoint-url", endpoint, "--profile", "nixbucket"}, args...)...)
	}
	const bucket = "behind-nginx"
	aws(front, "s3", "mb", "s3://"+bucket)
	big, single := filepath.Join(dir, "big.bin"), filepath.Join(dir, "single.bin")
	writeRandomFile(t, big, 20<<20, 7)
	writeRandomFile(t, single, 5<<20, 8)
	// The aws CLI cuts at 8 MiB: 3 parts, sent at once.
	aws(front, "s3", "cp", "--no-progress", big, "s3://"+bucket+"/big.bin")
	aws(front, "s3api", "put-object", "--bucket", bucket, "--key", "single.bin", "--body", single)

	for _, ep := range []string{front, a.Endpoint, b.Endpoint} {
		got := filepath.Join(dir, "got-big.bin")
		aws(ep, "s3", "cp", "--no-progress", "s3://"+bucket+"/big.bin", got)
		sameFile(t, big, got)
		got = filepath.Join(dir, "got-single.bin")
		aws(ep, "s3api", "get-object", "--bucket", bucket, "--key", "single.bin", got)
		sameFile(t, single, got)
	}
	var head awsHead
	headJSON := aws(front, "s3api", "head-object", "--bucket", bucket, "--key", "big.bin")
	if err := json.Unmarshal([]byte(headJSON), &head); err != nil {
		t.Fatalf("head-object output: %v\n%s", err, headJSON)
	}
	if want := `"` + multipartETag(t, big, 8<<20) + `"`; head.ContentLength != 20<<20 || head.ETag != want {
		t.Errorf("head-object big.bin: ContentLength %d ETag %s, want %d %s", head.ContentLength, head.ETag, 20<<20, want)
	}
	// nginx balances round robin: of the three parts, in a row, each node
	// took at least one.
	for _, n := range []*Server{a, b} {
		if log := n.logWith("method=PUT bucket=" + bucket + " key=big.bin status=200"); !strings.Contains(log, "method=PUT bucket="+bucket+" key=big.bin status=200") {
			t.Errorf("node %s logged no part of big.bin; its requests:\n%s", n.Addr, tail(grepLines(log, "msg=request"), 4000))
		}
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			b.WriteString(line)
		}
	}
	return b.String()
}

// nginxProcAttr starts nginx in a process group of its own, so that
// stopNginx stops its workers too: a master killed (by Pdeathsig, or
// after a graceful stop timed out) left its workers running under init,
// holding the port.
func nginxProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// stopNginx stops an nginx started with nginxProcAttr, whose Wait closes
// exited: gracefully (workers finish, then exit), by force after 10 s,
// and then whatever is left of its process group.
func stopNginx(cmd *exec.Cmd, exited <-chan struct{}) {
	cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
