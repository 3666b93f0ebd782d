package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// Pull-through buckets against a real upstream: nginx serving a cache
// directory that Nix 2.8 wrote (`nix copy --to file://…`, signed with a
// test key), the layout cache.nixos.org serves. nginx's access log is the
// witness of what nixbucket asked upstream.

// pullUpstream is an nginx serving a signed file:// cache.
type pullUpstream struct {
	URL     string // http://127.0.0.1:PORT
	Dir     string // the cache directory
	PubKey  string // its key, in trusted-public-keys form
	log     string // access log: "METHOD URI STATUS" lines
	confDir string
}

// startPullUpstream copies paths (with their closure) into a fresh cache
// signed by a fresh key and serves it with nginx.
func startPullUpstream(t *testing.T, paths ...string) *pullUpstream {
	t.Helper()
	ngx := need(t, "nginx")
	sec, pubFile := nixGenerateKey(t, "upstream-e2e-1")
	pub, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := nixFileCache(t, "secret-key="+sec, paths...)
	u := &pullUpstream{Dir: dir, PubKey: strings.TrimSpace(string(pub)), confDir: t.TempDir()}
	// nginx's workers run as nobody when the tests run as root.
	for _, d := range []string{filepath.Dir(dir), dir, filepath.Dir(u.confDir), u.confDir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			mode := os.FileMode(0o644)
			if fi.IsDir() {
				mode = 0o755
			}
			os.Chmod(p, mode)
		}
		return nil
	})
	u.log = filepath.Join(u.confDir, "access.log")
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(u.confDir, "nginx.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
daemon off;
events { worker_connections 256; }
http {
	log_format plain '$request_method $uri $status';
	access_log %[1]s/access.log plain;
	client_body_temp_path %[1]s/client_body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen 127.0.0.1:%[2]d;
		root %[3]s;
	}
}
`, u.confDir, port, dir)), 0o644)
	cmd := exec.Command(ngx, "-p", u.confDir+"/", "-c", conf, "-e", filepath.Join(u.confDir, "error.log"))
	cmd.SysProcAttr = nginxProcAttr()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if !testenv.WaitListening(addr, exited, 10*time.Second) {
		stopNginx(cmd, exited)
		errLog, _ := os.ReadFile(filepath.Join(u.confDir, "error.log"))
		t.Fatalf("nginx did not listen on %s\n%s", addr, errLog)
	}
	t.Cleanup(func() { stopNginx(cmd, exited) })
	u.URL = "http://" + addr
	return u
}

// requests returns how many times nginx was asked for each URI, after
// letting it write out its log (nginx writes each line when the request
// ends; the clients have all finished when this is called).
func (u *pullUpstream) requests(t *testing.T) map[string]int {
	t.Helper()
	f, err := os.Open(u.log)
	if os.IsNotExist(err) {
		return map[string]int{}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 3 {
			n[fields[1]]++
		}
	}
	return n
}

// narRequests counts the NAR requests among requests.
func narRequests(reqs map[string]int) (files, total int) {
	for uri, n := range reqs {
		if strings.HasPrefix(uri, "/nar/") {
			files++
			total += n
		}
	}
	return files, total
}

// pullServer starts nixbucket with its nix-cache bucket public (the
// seed's anonymous-read policy) and pulling through from up, trusting
// up's key.
func pullServer(t *testing.T, upstreams, keys string, extra ...string) *Server {
	t.Helper()
	s := startServer(t)
	pullSet(t, s, upstreams, keys, extra...)
	return s
}

// pullSet makes s's nix-cache bucket public and pull through.
func pullSet(t *testing.T, s *Server, upstreams, keys string, extra ...string) {
	t.Helper()
	nixAdmin(t, s, "bucket", "policy", "set", nixCacheBucket, "anonymous-read")
	nixAdmin(t, s, append([]string{"bucket", "set", nixCacheBucket, "upstreams=" + upstreams, "upstream-keys=" + keys}, extra...)...)
}

// TestPullThroughSubstitute: Nix 2.8 substitutes a 20-path closure through
// a pull-through bucket with require-sigs, trusting only the upstream's
// key, then (from what the bucket stored) trusting only the bucket's key.
// Each NAR is fetched from upstream once.
func TestPullThroughSubstitute(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	c := nixBuildClosure(t, 20, 16, "pull")
	up := startPullUpstream(t, c.Top)
	s := pullServer(t, up.URL, up.PubKey)
	cache := nixCacheURL(s, nixCacheBucket)
	bucketKey := nixServerKey(t, s, nixCacheBucket)
	info := nixAdmin(t, s, "bucket", "info", nixCacheBucket)
	if !strings.Contains(info, "upstreams:       "+up.URL) || !strings.Contains(info, "upstream-keys:   "+up.PubKey) {
		t.Errorf("bucket info does not show the upstream settings:\n%s", info)
	}

	t.Run("trust-upstream-key", func(t *testing.T) {
		c.delete(t)
		nixMustSubstitute(t, cache, up.PubKey, nixNoNetrc(t), c.Top)
		c.checkDumps(t)
	})
	t.Run("trust-bucket-key", func(t *testing.T) {
		c.delete(t)
		nixMustSubstitute(t, cache, bucketKey, nixNoNetrc(t), c.Top)
		c.checkDumps(t)
	})
	if n := nixCachePaths(t, s, nixCacheBucket); n != len(c.Paths) {
		t.Errorf("bucket holds %d paths, want %d", n, len(c.Paths))
	}
	for _, p := range c.Paths {
		ni := nixGetNarinfo(t, s, nixCacheBucket, p)
		if !ni.Verify(nixPublicKey(t, up.PubKey)) || !ni.Verify(nixPublicKey(t, bucketKey)) {
			t.Errorf("%s: want signatures by the upstream and the bucket, have %q", p, ni.Sigs)
		}
		// Stored: the admin (a writer, who never pulls) reads it.
		if r := nixHTTP(t, nixNetrc(s), http.MethodHead, cache+"/"+ni.URL); r.Status != http.StatusOK {
			t.Errorf("HEAD %s as a writer: %d, want the NAR stored", ni.URL, r.Status)
		}
	}
	reqs := up.requests(t)
	files, total := narRequests(reqs)
	if files != len(c.Paths) || total != len(c.Paths) {
		t.Errorf("upstream served %d NAR requests for %d files, want each of the %d NARs once: %v", total, files, len(c.Paths), reqs)
	}
}

// TestPullThroughConcurrent: 8 Nix clients, each with a store of its own,
// substitute the same closure at once through a pull-through bucket; the
// upstream's access log shows each NAR fetched once.
func TestPullThroughConcurrent(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	c := nixBuildClosure(t, 20, 64, "pullconc")
	up := startPullUpstream(t, c.Top)
	s := pullServer(t, up.URL, up.PubKey)
	cache := nixCacheURL(s, nixCacheBucket)
	const clients = 8
	var wg sync.WaitGroup
	errs := make([]error, clients)
	roots := make([]string, clients)
	for i := range clients {
		roots[i] = t.TempDir()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := nixRun(t, "nix-store", "--store", roots[i], "--realise", c.Top,
				"--option", "substituters", cache,
				"--option", "trusted-public-keys", up.PubKey,
				"--option", "require-sigs", "true",
				"--option", "netrc-file", nixNoNetrc(t))
			if r.Err != nil {
				errs[i] = fmt.Errorf("%v\n%s", r.Err, tail(r.Stderr, 4000))
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("client %d: %v", i, err)
		}
	}
	for i, root := range roots {
		for _, p := range c.Paths {
			if _, err := os.Lstat(filepath.Join(root, p)); err != nil {
				t.Errorf("client %d: %s not substituted: %v", i, p, err)
			}
		}
	}
	reqs := up.requests(t)
	files, total := narRequests(reqs)
	if files != len(c.Paths) || total != len(c.Paths) {
		t.Errorf("upstream served %d NAR requests for %d files, want each of the %d NARs once: %v", total, files, len(c.Paths), reqs)
	}
}

// TestPullThroughTampered: a NAR changed on the upstream makes the client
// fail and leaves it unstored; once the upstream file is fixed, the same
// substitution succeeds.
func TestPullThroughTampered(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	c := nixBuildClosure(t, 3, 256, "pulltamper")
	up := startPullUpstream(t, c.Top)
	s := pullServer(t, up.URL, up.PubKey)
	cache := nixCacheURL(s, nixCacheBucket)
	top := nixReadNarinfo(t, filepath.Join(up.Dir, nixHashPart(c.Top)+".narinfo"))
	narFile := filepath.Join(up.Dir, top.URL)
	good, err := os.ReadFile(narFile)
	if err != nil {
		t.Fatal(err)
	}
	bad := []byte(string(good))
	bad[len(bad)/2] ^= 0xff
	if err := os.WriteFile(narFile, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	c.delete(t)
	r := nixSubstitute(t, cache, up.PubKey, nixNoNetrc(t), c.Top)
	if r.Err == nil {
		t.Fatalf("nix-store -r succeeded with a tampered NAR upstream")
	}
	// Nix may leave the directory it unpacked into, but not a valid path.
	if v := nixRun(t, "nix-store", "--check-validity", c.Top); v.Err == nil {
		t.Errorf("%s is valid after a failed substitution\n%s", c.Top, tail(r.Stderr, 4000))
	}
	// Nothing stored, and the pulled narinfo dropped: a writer (who never
	// pulls) finds neither.
	narinfoURL := cache + "/" + nixHashPart(c.Top) + ".narinfo"
	if r := nixHTTP(t, nixNetrc(s), http.MethodHead, narinfoURL); r.Status != http.StatusNotFound {
		t.Errorf("HEAD %s as a writer after the mismatch: %d, want 404 (the pulled narinfo dropped)", narinfoURL, r.Status)
	}
	if err := os.WriteFile(narFile, good, 0o644); err != nil {
		t.Fatal(err)
	}
	nixMustSubstitute(t, cache, up.PubKey, nixNoNetrc(t), c.Top)
	c.checkDumps(t)
	ni := nixGetNarinfo(t, s, nixCacheBucket, c.Top)
	if r := nixHTTP(t, nixNetrc(s), http.MethodHead, cache+"/"+ni.URL); r.Status != http.StatusOK {
		t.Errorf("HEAD %s as a writer after the fix: %d, want it stored", ni.URL, r.Status)
	}
	// The metrics count the mismatch and the bytes fetched, per upstream.
	for _, m := range []string{"nixbucket_upstream_mismatches_total", "nixbucket_upstream_received_bytes_total", "nixbucket_upstream_requests_total"} {
		if v := upstreamMetric(t, s, m, up.URL); v < 1 {
			t.Errorf("%s{bucket=%q,upstream=%q} = %v, want at least 1", m, nixCacheBucket, up.URL, v)
		}
	}
}

// upstreamMetric scrapes s's /-/metrics (as a loopback caller) for the
// value of metric for nix-cache and upstream.
func upstreamMetric(t *testing.T, s *Server, metric, upstream string) float64 {
	t.Helper()
	series := fmt.Sprintf("%s{bucket=%q,upstream=%q}", metric, nixCacheBucket, strings.TrimSuffix(upstream, "/"))
	v, ok := metricValue(t, s, series)
	if !ok {
		t.Errorf("no series %s in /-/metrics", series)
	}
	return v
}

// TestPullThroughUpstreamDown: with its upstream unreachable, a
// pull-through bucket answers narinfo misses with a fast 404 (the issue's
// bound: under a second), and Nix gives up on the path instead of hanging.
func TestPullThroughUpstreamDown(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	_, pubFile := nixGenerateKey(t, "upstream-down-1")
	pub, _ := os.ReadFile(pubFile)
	s := pullServer(t, fmt.Sprintf("http://127.0.0.1:%d", port), strings.TrimSpace(string(pub)))
	cache := nixCacheURL(s, nixCacheBucket)
	const hash = "0c2kb3ix3x6w4a5ijfbaqgzkzdnlyrsh"
	for range 2 {
		start := time.Now()
		r := nixHTTP(t, nixNoNetrc(t), http.MethodGet, cache+"/"+hash+".narinfo")
		took := time.Since(start)
		t.Logf("narinfo GET with the upstream down: %d in %s", r.Status, took)
		if r.Status != http.StatusNotFound && r.Status != http.StatusForbidden {
			t.Errorf("GET narinfo with the upstream down: %d, want 404 (or 403 without s3:ListBucket)", r.Status)
		}
		if took >= time.Second {
			t.Errorf("GET narinfo with the upstream down took %s, want under 1 s", took)
		}
	}
	r := nixSubstitute(t, cache, string(pub), nixNoNetrc(t), "/nix/store/"+hash+"-pull-down")
	if r.Err == nil {
		t.Errorf("nix-store -r of a path no cache has succeeded")
	}
}

// TestPullThroughPushNoFetch: `nix copy --to` into a pull-through bucket
// whose upstream has the very closure uploads it without a single
// upstream request: the caller may write the bucket, so its narinfo
// probes never pull.
func TestPullThroughPushNoFetch(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	c := nixBuildClosure(t, 5, 16, "pullpush")
	up := startPullUpstream(t, c.Top)
	s := pullServer(t, up.URL, up.PubKey)
	cache := nixCacheURL(s, nixCacheBucket)
	nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s), "--to", cache, c.Top)
	if n := nixCachePaths(t, s, nixCacheBucket); n != len(c.Paths) {
		t.Errorf("bucket holds %d paths after the push, want %d", n, len(c.Paths))
	}
	if reqs := up.requests(t); len(reqs) != 0 {
		t.Errorf("the push made %d upstream requests, want none: %v", len(reqs), reqs)
	}
	// The push hint of NixOS/nix#15249 keeps even a reader from pulling.
	// A path the upstream lacks and the push did not bring: the top's hash
	// with its first character changed (to one it does not start with).
	hash := nixHashPart(c.Top)
	first := "1"
	if hash[0] == '1' {
		first = "2"
	}
	r := nixHTTP(t, nixNoNetrc(t), http.MethodGet, cache+"/"+first+hash[1:]+".narinfo", "-H", "X-Nix-Operation: push")
	if r.Status == http.StatusOK {
		t.Errorf("GET with a push hint answered 200")
	}
	if reqs := up.requests(t); len(reqs) != 0 {
		t.Errorf("a GET with a push hint made upstream requests: %v", reqs)
	}
}

// TestPullThroughS3Blobs: a pull-through bucket whose blobs live in an S3
// store keeps what it pulls there (one NAR larger than an S3 part).
func TestPullThroughS3Blobs(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	c := nixBuildClosure(t, 3, 20<<10, "pulls3")
	up := startPullUpstream(t, c.Top)
	s, blobDir := nixStartS3Blobs(t)
	pullSet(t, s, up.URL, up.PubKey)
	cache := nixCacheURL(s, nixCacheBucket)
	c.delete(t)
	nixMustSubstitute(t, cache, up.PubKey, nixNoNetrc(t), c.Top)
	c.checkDumps(t)
	if n := countFiles(blobDir); n < len(c.Paths) {
		t.Errorf("%d blobs in the S3 store after pulling %d NARs, want at least one each", n, len(c.Paths))
	}
	c.delete(t)
	nixMustSubstitute(t, cache, nixServerKey(t, s, nixCacheBucket), nixNoNetrc(t), c.Top)
	c.checkDumps(t)
	if _, total := narRequests(up.requests(t)); total != len(c.Paths) {
		t.Errorf("upstream served %d NAR requests, want %d", total, len(c.Paths))
	}
}

// TestPullThroughCluster: two servers on one PostgreSQL store and one S3
// blob store. Upstreams set while they run take effect on both; narinfos
// pulled through node A are served by node B, which fetches their NARs
// itself (once each) and keeps them where A sees them.
func TestPullThroughCluster(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	c := startCluster(t, 2)
	a, b := c.Nodes[0], c.Nodes[1]
	cl := nixBuildClosure(t, 4, 64, "pullcluster")
	up := startPullUpstream(t, cl.Top)
	hash := nixHashPart(cl.Top)
	// Both nodes have answered a miss before the bucket pulls through.
	for _, s := range []*Server{a, b} {
		if r := nixHTTP(t, nixNoNetrc(t), http.MethodGet, nixCacheURL(s, nixCacheBucket)+"/"+hash+".narinfo"); r.Status == http.StatusOK {
			t.Fatalf("narinfo served before the upstreams were set")
		}
	}
	c.admin(t, "bucket", "policy", "set", nixCacheBucket, "anonymous-read")
	c.admin(t, "bucket", "set", nixCacheBucket, "upstreams="+up.URL, "upstream-keys="+up.PubKey)
	for _, p := range cl.Paths {
		url := nixCacheURL(a, nixCacheBucket) + "/" + nixHashPart(p) + ".narinfo"
		if r := nixHTTP(t, nixNoNetrc(t), http.MethodGet, url); r.Status != http.StatusOK {
			t.Fatalf("GET %s through A: %d %s", url, r.Status, r.Body)
		}
	}
	cl.delete(t)
	nixMustSubstitute(t, nixCacheURL(b, nixCacheBucket), c.publicKey(t, nixCacheBucket), nixNoNetrc(t), cl.Top)
	cl.checkDumps(t)
	cl.delete(t)
	nixMustSubstitute(t, nixCacheURL(a, nixCacheBucket), up.PubKey, nixNoNetrc(t), cl.Top)
	cl.checkDumps(t)
	reqs := up.requests(t)
	if files, total := narRequests(reqs); files != len(cl.Paths) || total != len(cl.Paths) {
		t.Errorf("upstream served %d NAR requests for %d files, want each of the %d NARs once: %v", total, files, len(cl.Paths), reqs)
	}
}

// TestPullThroughRangeAndHead: a HEAD of a pulled path's NAR not fetched
// yet answers its size without asking upstream; a Range GET of it is
// answered (206, the right bytes) from the one download, which then keeps
// the whole NAR.
func TestPullThroughRangeAndHead(t *testing.T) {
	t.Parallel()
	nixNeed(t)
	cl := nixBuildClosure(t, 1, 512, "pullrange")
	up := startPullUpstream(t, cl.Top)
	s := pullServer(t, up.URL, up.PubKey)
	cache := nixCacheURL(s, nixCacheBucket)
	r := nixHTTP(t, nixNoNetrc(t), http.MethodGet, cache+"/"+nixHashPart(cl.Top)+".narinfo")
	if r.Status != http.StatusOK {
		t.Fatalf("GET narinfo: %d %s", r.Status, r.Body)
	}
	ni := nixParseNarinfo(t, "pulled narinfo", []byte(r.Body))
	upInfo := nixReadNarinfo(t, filepath.Join(up.Dir, nixHashPart(cl.Top)+".narinfo"))
	file, err := os.ReadFile(filepath.Join(up.Dir, upInfo.URL))
	if err != nil {
		t.Fatal(err)
	}
	h := nixHTTP(t, nixNoNetrc(t), http.MethodHead, cache+"/"+ni.URL)
	if h.Status != http.StatusOK || h.Header.Get("Content-Length") != fmt.Sprint(len(file)) {
		t.Errorf("HEAD %s: %d Content-Length %q, want 200 %d", ni.URL, h.Status, h.Header.Get("Content-Length"), len(file))
	}
	if _, total := narRequests(up.requests(t)); total != 0 {
		t.Errorf("a HEAD fetched the NAR upstream")
	}
	g := nixHTTP(t, nixNoNetrc(t), http.MethodGet, cache+"/"+ni.URL, "-H", "Range: bytes=1000-4999")
	if g.Status != http.StatusPartialContent || g.Body != string(file[1000:5000]) ||
		g.Header.Get("Content-Range") != fmt.Sprintf("bytes 1000-4999/%d", len(file)) {
		t.Errorf("Range GET: %d %q, %d bytes", g.Status, g.Header.Get("Content-Range"), len(g.Body))
	}
	// The download goes on to the end after the Range's answer, and the
	// NAR is then stored: a writer (to whom nothing is pulled through)
	// sees it once it is. A minute is a bound for a stuck download, not a
	// timing expectation.
	var w curlResponse
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		w = nixHTTP(t, nixNetrc(s), http.MethodGet, cache+"/"+ni.URL)
		if w.Status != http.StatusNotFound || time.Now().After(deadline) {
			break
		}
	}
	if w.Status != http.StatusOK || w.Body != string(file) {
		t.Errorf("GET %s as a writer after the Range: %d, %d bytes; want the stored NAR", ni.URL, w.Status, len(w.Body))
	}
}
