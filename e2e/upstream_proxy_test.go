package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// nixbucket proxy (issue #15): a local plain-HTTP binary cache in front of
// a private S3 cache, for a Nix without S3 support.

// proxyProcess is a running `nixbucket proxy`.
type proxyProcess struct {
	URL    string // http://127.0.0.1:PORT
	stderr *syncBuffer
}

// startProxy runs `nixbucket proxy ARGS --listen 127.0.0.1:PORT` with env
// as its whole environment until the test ends.
func startProxy(t testing.TB, env []string, args ...string) *proxyProcess {
	t.Helper()
	setupTarget(t)
	var lastErr string
	for range 3 { // a port picked free may be taken before the proxy binds it
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		p := &proxyProcess{URL: "http://" + addr, stderr: &syncBuffer{}}
		cmd := exec.Command(serverBin, append([]string{"proxy", "--listen", addr}, args...)...)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = p.stderr, p.stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start nixbucket proxy: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if testenv.WaitListening(addr, exited, 20*time.Second) {
			t.Cleanup(func() {
				cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(15 * time.Second):
					cmd.Process.Kill()
					<-exited
				}
				if t.Failed() {
					t.Logf("nixbucket proxy %s log:\n%s", addr, tail(p.stderr.String(), 8000))
				}
			})
			return p
		}
		cmd.Process.Kill()
		<-exited
		lastErr = p.stderr.String()
		if !strings.Contains(lastErr, "address already in use") {
			break
		}
	}
	t.Fatalf("nixbucket proxy did not listen:\n%s", tail(lastErr, 4000))
	return nil
}

// TestProxyPrivateS3: Nix 2.8, which has no S3 support, substitutes a
// closure with require-sigs from a private S3 cache through
// `nixbucket proxy`, trusting only the cache's key; curl gets a byte range
// of a NAR through it; the upstream serves each NAR once, however many
// clients ask at once; and a disk cache bounded by --max-size stays under
// its bound while Nix substitutes a closure larger than it.
func TestProxyPrivateS3(t *testing.T) {
	nixNeed(t)
	const paths, kib = 8, 256
	c := nixBuildClosure(t, paths, kib, "proxy-s3")
	up := startPrivateS3Upstream(t, c.Top)
	env := pushEnv(t, up.Env...)

	// 1. With a disk cache big enough for everything.
	cacheDir := filepath.Join(t.TempDir(), "cache")
	px := startProxy(t, env, "--upstream", up.URL, "--cache-dir", cacheDir, "--max-size", "1GiB",
		"--trusted-public-keys", up.PublicKey)
	c.delete(t)
	nixMustSubstitute(t, px.URL, up.PublicKey, nixNoNetrc(t), c.Top)
	c.checkDumps(t)
	narURLs := make([]string, len(c.Paths))
	for i, p := range c.Paths {
		narURLs[i] = up.narURL(t, p)
		if n := up.Gets(narURLs[i]); n != 1 {
			t.Errorf("upstream served %s %d times to one substitution, want 1", narURLs[i], n)
		}
	}
	// Its metrics: one checked download per NAR, each kept; bytes from
	// the S3 upstream, counted by upstream (promtool checks the text).
	checkProxyMetrics(t, px.URL+"/-/metrics", []string{
		fmt.Sprintf(`nixbucket_proxy_nars_total{from="download"} %d`, len(c.Paths)),
		fmt.Sprintf(`nixbucket_proxy_cache_files %d`, len(c.Paths)),
		fmt.Sprintf(`nixbucket_proxy_requests_total{class="2xx",operation="Nar"} %d`, len(c.Paths)),
	}, []string{"nixbucket_upstream_received_bytes_total{upstream=", "nixbucket_proxy_sent_bytes_total{operation=\"Nar\"}", "nixbucket_proxy_cache_bytes"})

	// A trusted key the upstream did not sign with: Nix refuses (the
	// proxy serves the upstream's narinfos unchanged, signs nothing).
	c.delete(t)
	other, _ := signature4Test(t)
	if r := nixSubstitute(t, px.URL, other, nixNoNetrc(t), c.Top); r.Err == nil {
		t.Fatal("Nix substituted through the proxy trusting only a key nobody signed with")
	}
	nixMustSubstitute(t, px.URL, up.PublicKey, nixNoNetrc(t), c.Top) // from the disk cache
	c.checkDumps(t)
	for _, u := range narURLs {
		if n := up.Gets(u); n != 1 {
			t.Errorf("upstream served %s %d times, want 1 (the second substitution comes from the disk cache)", u, n)
		}
	}

	// 2. A byte range of a NAR through the proxy, with curl: the same bytes
	// as the upstream's file, from the cache and (below) while fetched.
	whole := nixHTTP(t, nixNetrc(up.Server), http.MethodGet, nixCacheURL(up.Server, up.Bucket)+"/"+narURLs[0])
	if whole.Status != http.StatusOK {
		t.Fatalf("NAR from the upstream bucket: %d", whole.Status)
	}
	r := nixHTTP(t, "", http.MethodGet, px.URL+"/"+narURLs[0], "-r", "100-4195")
	if r.Status != http.StatusPartialContent || r.Body != whole.Body[100:4196] ||
		r.Header.Get("Content-Range") != fmt.Sprintf("bytes 100-4195/%d", len(whole.Body)) {
		t.Fatalf("curl -r 100-4195 through the proxy: %d, %d bytes, Content-Range %q", r.Status, len(r.Body), r.Header.Get("Content-Range"))
	}

	// 3. Stream-through (no disk cache): 8 concurrent clients per NAR, each
	// with its narinfo first as Nix does; the upstream serves each NAR once
	// more, a range client among them getting its range.
	mport, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/-/metrics", mport)
	px2 := startProxy(t, env, "--upstream", up.URL, "--trusted-public-keys", up.PublicKey,
		"--metrics-listen", fmt.Sprintf("127.0.0.1:%d", mport))
	var wg sync.WaitGroup
	errs := make(chan string, len(c.Paths)*9)
	for i, p := range c.Paths {
		for k := range 9 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if ni := nixHTTP(t, "", http.MethodGet, px2.URL+"/"+nixHashPart(p)+".narinfo"); ni.Status != http.StatusOK {
					errs <- fmt.Sprintf("narinfo of %s: %d", p, ni.Status)
					return
				}
				if k == 8 {
					r := nixHTTP(t, "", http.MethodGet, px2.URL+"/"+narURLs[i], "-r", "1000-")
					if i == 0 && (r.Status != http.StatusPartialContent || r.Body != whole.Body[1000:]) {
						errs <- fmt.Sprintf("range 1000- of %s: %d, %d bytes", narURLs[i], r.Status, len(r.Body))
					}
					return
				}
				r := nixHTTP(t, "", http.MethodGet, px2.URL+"/"+narURLs[i])
				if r.Status != http.StatusOK || (i == 0 && r.Body != whole.Body) {
					errs <- fmt.Sprintf("%s: %d, %d bytes", narURLs[i], r.Status, len(r.Body))
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	for _, u := range narURLs {
		if n := up.Gets(u); n != 2 {
			t.Errorf("upstream served %s %d times in all, want 2 (once per proxy, whatever the clients)", u, n)
		}
	}
	// With --metrics-listen the metrics are there, not on the proxy's
	// own listener; every client's NAR GET came from the one download.
	if r := nixHTTP(t, "", http.MethodGet, px2.URL+"/-/metrics"); r.Status != http.StatusNotFound {
		t.Errorf("GET /-/metrics on the proxy's listener with --metrics-listen: %d, want 404", r.Status)
	}
	checkProxyMetrics(t, metricsURL, []string{
		fmt.Sprintf(`nixbucket_proxy_nars_total{from="download"} %d`, 9*len(c.Paths)),
		fmt.Sprintf(`nixbucket_proxy_requests_total{class="2xx",operation="Narinfo"} %d`, 9*len(c.Paths)),
	}, []string{"nixbucket_upstream_received_bytes_total{upstream="})

	// 4. A disk cache smaller than the closure: Nix still substitutes it,
	// and the directory never grows past --max-size.
	bound := 3*len(whole.Body) + len(whole.Body)/2 // room for three of the eight NARs
	small := filepath.Join(t.TempDir(), "small")
	px3 := startProxy(t, env, "--upstream", up.URL, "--cache-dir", small, "--max-size", fmt.Sprint(bound),
		"--trusted-public-keys", up.PublicKey)
	c.delete(t)
	nixMustSubstitute(t, px3.URL, up.PublicKey, nixNoNetrc(t), c.Top)
	c.checkDumps(t)
	if n := dirBytes(t, small); n > int64(bound) || n == 0 {
		t.Errorf("the disk cache holds %d bytes after the substitution, want 1 to %d (--max-size)", n, bound)
	}
}

// signature4Test makes a key pair nobody signs with, in trusted-public-keys
// form.
func signature4Test(t testing.TB) (public, secretFile string) {
	t.Helper()
	secretFile, public = pushGenerateKey(t, "nobody-signs-with-this")
	return public, secretFile
}

// TestProxyTwoUpstreams: a proxy in front of the private S3 cache and the
// nginx one, in that order, serves the paths of both to Nix (each signed
// by its own cache, both keys trusted), and takes a path both have from
// the first.
func TestProxyTwoUpstreams(t *testing.T) {
	nixNeed(t)
	both := nixBuildClosure(t, 2, 32, "proxy-both")
	onlyS3 := nixBuildClosure(t, 2, 32, "proxy-s3only")
	onlyNginx := nixBuildClosure(t, 2, 32, "proxy-ngxonly")
	up := startPrivateS3Upstream(t, both.Top, onlyS3.Top)
	cache := upstreamFileCache(t, "upstream-nginx-1", both.Top, onlyNginx.Top)
	ngx := startUpstreamNginx(t, cache.Dir)
	keys := up.PublicKey + " " + cache.PublicKey
	px := startProxy(t, pushEnv(t, up.Env...), "--upstream", up.URL, "--upstream", ngx.URL, "--trusted-public-keys", keys)

	for _, c := range []*nixClosure{both, onlyS3, onlyNginx} {
		c.delete(t)
	}
	nixMustSubstitute(t, px.URL, keys, nixNoNetrc(t), both.Top, onlyS3.Top, onlyNginx.Top)
	for _, c := range []*nixClosure{both, onlyS3, onlyNginx} {
		c.checkDumps(t)
	}
	for _, p := range both.Paths {
		if n := ngx.Gets(t, "/"+cache.narURL(t, p)); n != 0 {
			t.Errorf("nginx (second upstream) served the NAR of %s %d times; the first upstream has it", p, n)
		}
		if n := up.Gets(up.narURL(t, p)); n != 1 {
			t.Errorf("the S3 upstream served the NAR of %s %d times, want 1", p, n)
		}
	}
	for _, p := range onlyNginx.Paths {
		if n := ngx.Gets(t, "/"+cache.narURL(t, p)); n != 1 {
			t.Errorf("nginx served the NAR of %s %d times, want 1", p, n)
		}
	}
}
