package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// Upstream caches for the pull-through and proxy tests (issue #15), made
// to be reused:
//
//   - upstreamFileCache: a closure copied by `nix copy --to file://DIR?
//     secret-key=…`, the layout cache.nixos.org serves, signed by a test key;
//   - startUpstreamNginx: nginx serving such a directory, with its access
//     log parsed (how many times was each NAR fetched);
//   - startPrivateS3Upstream: a second nixbucket whose private bucket holds
//     a closure, readable only with a reader's credentials, reached over
//     s3://BUCKET?endpoint=…&region=…&profile=cache-reader through a
//     counting reverse proxy.

// upstreamCache is a signed binary-cache directory.
type upstreamCache struct {
	Dir       string // the cache root (nix-cache-info, *.narinfo, nar/)
	PublicKey string // the signing key in trusted-public-keys form
	KeyName   string
	Secret    string // the secret key's file
}

// upstreamFileCache copies the closure of paths into a fresh file://
// binary cache signed with a new key named keyName, with zstd NARs.
// The directory is readable by nginx's workers.
func upstreamFileCache(t testing.TB, keyName string, paths ...string) *upstreamCache {
	t.Helper()
	return upstreamFileCacheWith(t, keyName, "compression=zstd", paths...)
}

// upstreamFileCacheWith is upstreamFileCache with the store URL
// parameters params ("compression=xz&write-nar-listing=1", say).
func upstreamFileCacheWith(t testing.TB, keyName, params string, paths ...string) *upstreamCache {
	t.Helper()
	secret, public := pushGenerateKey(t, keyName)
	dir := nixFileCache(t, params+"&secret-key="+secret, paths...)
	worldReadable(t, dir)
	return &upstreamCache{Dir: dir, PublicKey: public, KeyName: keyName, Secret: secret}
}

// worldReadable opens dir, its parent and everything under it to other
// users (nginx's workers), as t.TempDir makes them 0700.
func worldReadable(t testing.TB, dir string) {
	t.Helper()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// narinfoOf reads the narinfo of a store path in the cache.
func (c *upstreamCache) narinfoOf(t testing.TB, storePath string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.Dir, nixHashPart(storePath)+".narinfo"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// narURL returns the URL field of a store path's narinfo ("nar/….nar.zst").
func (c *upstreamCache) narURL(t testing.TB, storePath string) string {
	t.Helper()
	for line := range strings.Lines(c.narinfoOf(t, storePath)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "URL: "); ok {
			return v
		}
	}
	t.Fatalf("no URL in the narinfo of %s", storePath)
	return ""
}

// nginxUpstream is nginx serving a binary-cache directory.
type nginxUpstream struct {
	URL string // http://127.0.0.1:PORT
	dir string // nginx's prefix: config, logs
}

// startUpstreamNginx serves root (a binary-cache directory) with nginx on
// a free port until the test ends.
func startUpstreamNginx(t testing.TB, root string) *nginxUpstream {
	t.Helper()
	ngx := need(t, "nginx")
	var lastErr error
	for range 3 { // a port picked free may be taken before nginx binds it
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// One line per request: method, path, status, body bytes sent; the
		// log is written at once (no buffer) so tests read it right away.
		conf := fmt.Sprintf(`worker_processes 2;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
daemon off;
events { worker_connections 512; }
http {
	log_format upstream '$request_method $uri $status $body_bytes_sent';
	access_log %[1]s/access.log upstream;
	client_body_temp_path %[1]s/client_body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	types {
		text/x-nix-cache-info nix-cache-info;
		text/x-nix-narinfo narinfo;
		application/x-nix-nar nar zst xz bz2 br;
	}
	default_type application/octet-stream;
	sendfile on;
	server {
		listen 127.0.0.1:%[2]d;
		root %[3]s;
	}
}
`, dir, port, root)
		confFile := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(ngx, "-p", dir+"/", "-c", confFile, "-e", filepath.Join(dir, "error.log"))
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
			t.Cleanup(func() { stopNginx(cmd, exited) })
			return &nginxUpstream{URL: "http://" + addr, dir: dir}
		}
		stopNginx(cmd, exited)
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		lastErr = fmt.Errorf("nginx did not listen on %s: %s", addr, tail(string(log), 2000))
		if !strings.Contains(string(log), "Address already in use") {
			break
		}
	}
	t.Fatal(lastErr)
	return nil
}

// upstreamRequest is one line of an upstream's access log.
type upstreamRequest struct {
	Method, Path string
	Status       int
	Bytes        int64
}

// Requests parses nginx's access log so far.
func (n *nginxUpstream) Requests(t testing.TB) []upstreamRequest {
	t.Helper()
	f, err := os.Open(filepath.Join(n.dir, "access.log"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []upstreamRequest
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r upstreamRequest
		fs := strings.Fields(sc.Text())
		if len(fs) != 4 {
			t.Fatalf("nginx access log line %q: want 4 fields", sc.Text())
		}
		r.Method, r.Path = fs[0], fs[1]
		r.Status, _ = strconv.Atoi(fs[2])
		r.Bytes, _ = strconv.ParseInt(fs[3], 10, 64)
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Gets counts the GET requests for path ("/nar/….nar.zst") so far.
func (n *nginxUpstream) Gets(t testing.TB, path string) int {
	t.Helper()
	return countGets(n.Requests(t), path)
}

func countGets(reqs []upstreamRequest, path string) int {
	c := 0
	for _, r := range reqs {
		if r.Method == http.MethodGet && r.Path == path {
			c++
		}
	}
	return c
}

// privateS3Upstream is a private bucket on a second nixbucket holding a
// closure, read over s3:// with the credentials of a reader profile.
type privateS3Upstream struct {
	Server    *Server
	Bucket    string
	PublicKey string   // the bucket's signing key, trusted-public-keys form
	URL       string   // s3://BUCKET?endpoint=…&scheme=http&region=…&profile=cache-reader
	Env       []string // AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE with that profile

	mu   sync.Mutex
	reqs []upstreamRequest
}

const privateS3Profile = "cache-reader"

// startPrivateS3Upstream starts a nixbucket whose first-start bucket
// (private, signing) holds the closure of paths, pushed with the admin's
// netrc, and a user cache-reader allowed s3:GetObject on it and nothing
// else. Requests reach it through a reverse proxy that records them (the
// SigV4 Host header passes unchanged).
func startPrivateS3Upstream(t testing.TB, paths ...string) *privateS3Upstream {
	t.Helper()
	s := startServer(t)
	u := &privateS3Upstream{Server: s, Bucket: nixCacheBucket}
	u.PublicKey = nixServerKey(t, s, u.Bucket)
	pushMust(t, pushEnv(t), append([]string{"--to", nixCacheURL(s, u.Bucket), "--netrc-file", nixNetrc(s)}, paths...)...)

	policy := filepath.Join(t.TempDir(), "reader.json")
	doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:GetBucketLocation"],"Resource":["arn:aws:s3:::%[1]s","arn:aws:s3:::%[1]s/*"]}]}`, u.Bucket)
	if err := os.WriteFile(policy, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	section := nixAdmin(t, s, "user", "create", privateS3Profile, "--policy", policy)
	credsFile := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(credsFile, []byte(section), 0o600); err != nil {
		t.Fatal(err)
	}
	prof, err := parseINI(credsFile)
	if err != nil {
		t.Fatal(err)
	}
	const region = "eu-west-2"
	u.Env = pushAWSFiles(t, privateS3Profile, prof[privateS3Profile]["aws_access_key_id"], prof[privateS3Profile]["aws_secret_access_key"], region)

	target, _ := url.Parse(s.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &upstreamRecorder{ResponseWriter: w, status: http.StatusOK}
		rp.ServeHTTP(rec, r)
		u.mu.Lock()
		u.reqs = append(u.reqs, upstreamRequest{Method: r.Method, Path: r.URL.Path, Status: rec.status, Bytes: rec.bytes})
		u.mu.Unlock()
	}))
	t.Cleanup(front.Close)
	u.URL = fmt.Sprintf("s3://%s?endpoint=%s&scheme=http&region=%s&profile=%s", u.Bucket, strings.TrimPrefix(front.URL, "http://"), region, privateS3Profile)
	return u
}

// Requests returns the requests the upstream answered so far.
func (u *privateS3Upstream) Requests() []upstreamRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]upstreamRequest(nil), u.reqs...)
}

// Gets counts GET requests for key (path-style: "/BUCKET/KEY").
func (u *privateS3Upstream) Gets(key string) int {
	return countGets(u.Requests(), "/"+u.Bucket+"/"+key)
}

// narURL returns the URL field of a store path's narinfo in the bucket,
// read with the admin's netrc.
func (u *privateS3Upstream) narURL(t testing.TB, storePath string) string {
	t.Helper()
	r := nixHTTP(t, nixNetrc(u.Server), http.MethodGet, nixCacheURL(u.Server, u.Bucket)+"/"+nixHashPart(storePath)+".narinfo")
	if r.Status != http.StatusOK {
		t.Fatalf("narinfo of %s: %d %s", storePath, r.Status, r.Body)
	}
	return nixParseNarinfo(t, storePath, []byte(r.Body)).URL
}

// upstreamRecorder notes the status and body bytes of a response.
type upstreamRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *upstreamRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *upstreamRecorder) Write(p []byte) (int, error) {
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *upstreamRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// TestUpstreamFixtures: the nginx upstream serves the signed file cache
// and logs each request; the private S3 upstream refuses anonymous reads,
// serves the reader profile over S3 through its counting front, and holds
// narinfos signed by its bucket key.
func TestUpstreamFixtures(t *testing.T) {
	nixNeed(t)
	need(t, "aws")
	c := nixBuildClosure(t, 2, 16, "fixtures")

	cache := upstreamFileCache(t, "upstream-test-1", c.Top)
	ngx := startUpstreamNginx(t, cache.Dir)
	ni := nixHTTP(t, "", http.MethodGet, ngx.URL+"/"+nixHashPart(c.Top)+".narinfo")
	if ni.Status != http.StatusOK || !strings.Contains(ni.Body, "Sig: upstream-test-1:") {
		t.Fatalf("nginx narinfo: %d %q", ni.Status, ni.Body)
	}
	nar := "/" + cache.narURL(t, c.Top)
	if r := nixHTTP(t, "", http.MethodGet, ngx.URL+nar); r.Status != http.StatusOK {
		t.Fatalf("nginx NAR: %d", r.Status)
	}
	if n := ngx.Gets(t, nar); n != 1 {
		t.Fatalf("nginx access log: %d GETs of %s, want 1\n%v", n, nar, ngx.Requests(t))
	}

	up := startPrivateS3Upstream(t, c.Top)
	hash := nixHashPart(c.Top)
	if r := nixHTTP(t, nixNoNetrc(t), http.MethodGet, nixCacheURL(up.Server, up.Bucket)+"/"+hash+".narinfo"); r.Status != http.StatusUnauthorized && r.Status != http.StatusForbidden {
		t.Fatalf("anonymous narinfo GET on the private bucket: %d, want 401 or 403", r.Status)
	}
	q, err := url.Parse(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "narinfo")
	env := append(pushEnv(t, up.Env...), "AWS_DEFAULT_REGION=eu-west-2")
	mustRun(t, env, "", "aws", "--profile", privateS3Profile, "--endpoint-url", "http://"+q.Query().Get("endpoint"),
		"s3", "cp", "s3://"+up.Bucket+"/"+hash+".narinfo", out)
	got := nixReadNarinfo(t, out)
	if !got.Verify(nixPublicKey(t, up.PublicKey)) {
		t.Fatalf("the private bucket's narinfo is not signed by %s: %v", up.PublicKey, got.Sigs)
	}
	if n := up.Gets(hash + ".narinfo"); n != 1 {
		t.Fatalf("counting front: %d GETs of the narinfo, want 1\n%v", n, up.Requests())
	}
	if r := mustRunErr(env, "aws", "--profile", privateS3Profile, "--endpoint-url", "http://"+q.Query().Get("endpoint"),
		"s3", "cp", filepath.Join(out), "s3://"+up.Bucket+"/x"); r == nil {
		t.Fatal("the reader profile could upload to the private bucket")
	}
}

// mustRunErr runs a program and returns its error, for commands expected
// to fail.
func mustRunErr(env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	return cmd.Run()
}
