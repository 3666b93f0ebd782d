package proxy

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/diskcache"
	"github.com/nixbucket/nixbucket/internal/nix/codec"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixbase32"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
	"github.com/nixbucket/nixbucket/internal/upstream"
)

var quiet = slog.New(slog.DiscardHandler)

// path is a store path a fake upstream serves.
type path struct {
	hash, url string
	text, nar []byte
}

// makePath makes a signed store path with a random NAR file of size bytes.
func makePath(t *testing.T, key signature.SecretKey, size int) *path {
	t.Helper()
	var hb [20]byte
	rand.Read(hb[:])
	hash := nixbase32.EncodeToString(hb[:])
	raw := make([]byte, size)
	rand.Read(raw)
	nar, err := codec.Encode("zstd", raw) // decoded by the fetcher, not parsed
	if err != nil {
		t.Fatal(err)
	}
	sum := nixhash.SHA256(sha256.Sum256(nar))
	p := &path{hash: hash, url: "nar/" + sum.Nix32() + ".nar.zst", nar: nar}
	ni := &narinfo.NarInfo{
		StorePath: "/nix/store/" + hash + "-test", URL: p.url, Compression: "zstd",
		FileHash: sum.String(), FileSize: uint64(len(nar)),
		NarHash: nixhash.SHA256(sha256.Sum256(raw)).String(), NarSize: uint64(size),
	}
	ni.Sign(key)
	p.text = []byte(ni.String())
	return p
}

// fake is an httptest binary cache that counts its requests; while hold is
// set, NAR bodies stop halfway until it is closed.
type fake struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	hits  map[string]int
	hold  chan struct{}
	held  chan struct{}
	once  sync.Once
}

func newFake(t *testing.T, paths ...*path) *fake {
	f := &fake{files: map[string][]byte{"nix-cache-info": []byte("StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 41\n")}, hits: map[string]int{}}
	for _, p := range paths {
		f.files[p.hash+".narinfo"] = p.text
		f.files[p.url] = p.nar
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/")
	f.mu.Lock()
	f.hits[key]++
	body, ok := f.files[key]
	hold, held := f.hold, f.held
	f.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if hold == nil || !strings.HasPrefix(key, "nar/") {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	half := len(body) / 2
	w.Write(body[:half])
	w.(http.Flusher).Flush()
	f.once.Do(func() { close(held) })
	select {
	case <-hold:
	case <-r.Context().Done():
		return
	}
	w.Write(body[half:])
}

func (f *fake) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[key]
}

// holdNARs makes NAR bodies stop halfway; the first channel is closed once
// one did, closing the second lets them go on.
func (f *fake) holdNARs() (held <-chan struct{}, release chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hold, f.held = make(chan struct{}), make(chan struct{})
	return f.held, f.hold
}

// start serves a proxy in front of up, trusting key, with a disk cache of
// max bytes in cacheDir ("" for none).
func start(t *testing.T, up *fake, key signature.PublicKey, cacheDir string, max int64) *httptest.Server {
	t.Helper()
	srv, _ := startMetered(t, up, key, cacheDir, max)
	return srv
}

// startMetered starts a proxy whose requests count in the metrics it
// returns (every test's proxy does: the metrics wrap what they test).
func startMetered(t *testing.T, up *fake, key signature.PublicKey, cacheDir string, max int64) (*httptest.Server, *Metrics) {
	t.Helper()
	src, err := upstream.NewSource(t.Context(), up.URL, upstream.SourceOptions{NetrcFile: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Fetcher: upstream.New(upstream.Config{Sources: []upstream.Source{src}, TrustedKeys: []signature.PublicKey{key}, Logger: quiet}),
		TempDir: t.TempDir(),
		Logger:  quiet,
	}
	if cacheDir != "" {
		cfg.Cache, err = diskcache.Open(cacheDir, max, quiet)
		if err != nil {
			t.Fatal(err)
		}
	}
	cfg.Metrics = NewMetrics(cfg.Fetcher, cfg.Cache)
	srv := httptest.NewServer(New(cfg))
	t.Cleanup(srv.Close)
	return srv, cfg.Metrics
}

type resp struct {
	status int
	header http.Header
	body   []byte
	err    error // reading the body
}

func get(t *testing.T, url string, header ...string) resp {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil { // a cut connection: the proxy's way to refuse bad bytes
		return resp{err: err}
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	return resp{r.StatusCode, r.Header, b, err}
}

func mustGet(t *testing.T, url string, status int, header ...string) resp {
	t.Helper()
	r := get(t, url, header...)
	if r.err != nil || r.status != status {
		t.Fatalf("GET %s %v: %d (%v), want %d: %.200s", url, header, r.status, r.err, status, r.body)
	}
	return r
}

func TestNarinfoAndNAR(t *testing.T) {
	key, _ := signature.Generate("upstream-1")
	other, _ := signature.Generate("someone-else")
	p := makePath(t, key, 300<<10)
	stranger := makePath(t, other, 1000)
	up := newFake(t, p, stranger)
	srv := start(t, up, key.Public(), filepath.Join(t.TempDir(), "cache"), 10<<20)

	info := mustGet(t, srv.URL+"/nix-cache-info", 200)
	if !strings.Contains(string(info.body), "Priority: 41") {
		t.Errorf("nix-cache-info is not the upstream's: %q", info.body)
	}
	ni := mustGet(t, srv.URL+"/"+p.hash+".narinfo", 200)
	if !bytes.Equal(ni.body, p.text) || ni.header.Get("Content-Type") != "text/x-nix-narinfo" {
		t.Errorf("narinfo: %q (%s), want the upstream's bytes %q", ni.body, ni.header.Get("Content-Type"), p.text)
	}
	mustGet(t, srv.URL+"/"+stranger.hash+".narinfo", 404) // signed by an untrusted key
	mustGet(t, srv.URL+"/"+strings.Repeat("0", 32)+".narinfo", 404)
	mustGet(t, srv.URL+"/../etc/passwd", 404)

	nar := mustGet(t, srv.URL+"/"+p.url, 200)
	if !bytes.Equal(nar.body, p.nar) {
		t.Fatalf("NAR: %d bytes differ from the upstream's %d", len(nar.body), len(p.nar))
	}
	part := mustGet(t, srv.URL+"/"+p.url, 206, "Range", "bytes=1000-1999")
	if !bytes.Equal(part.body, p.nar[1000:2000]) || part.header.Get("Content-Range") != fmt.Sprintf("bytes 1000-1999/%d", len(p.nar)) {
		t.Fatalf("Range from the cache: %d bytes, Content-Range %q", len(part.body), part.header.Get("Content-Range"))
	}
	if n := up.count(p.url); n != 1 {
		t.Fatalf("upstream served the NAR %d times, want 1 (the second GET comes from the cache)", n)
	}
	if r, err := http.Post(srv.URL+"/"+p.hash+".narinfo", "text/x-nix-narinfo", strings.NewReader("x")); err != nil || r.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %v %v, want 405", r.StatusCode, err)
	}
}

// TestConcurrentClientsOneFetch: clients that ask while the NAR is still
// arriving (a range among them) all get it, and the upstream serves it once.
func TestConcurrentClientsOneFetch(t *testing.T) {
	for _, cached := range []bool{true, false} {
		t.Run(fmt.Sprintf("cache=%v", cached), func(t *testing.T) {
			key, _ := signature.Generate("upstream-1")
			p := makePath(t, key, 1<<20)
			up := newFake(t, p)
			dir := ""
			if cached {
				dir = filepath.Join(t.TempDir(), "cache")
			}
			srv := start(t, up, key.Public(), dir, 10<<20)
			mustGet(t, srv.URL+"/"+p.hash+".narinfo", 200)
			held, release := up.holdNARs()
			const clients = 8
			results := make(chan resp, clients+1)
			for range clients {
				go func() { results <- get(t, srv.URL+"/"+p.url) }()
			}
			<-held
			// A range client gets its first bytes while the NAR is still
			// held halfway upstream, then the rest once it goes on.
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/"+p.url, nil)
			req.Header.Set("Range", "bytes=10-")
			rr, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			first := make([]byte, 1000)
			if _, err := io.ReadFull(rr.Body, first); err != nil {
				t.Fatalf("range client, before the upstream went on: %v", err)
			}
			close(release)
			rest, err := io.ReadAll(rr.Body)
			rr.Body.Close()
			results <- resp{rr.StatusCode, rr.Header, append(first, rest...), err}
			for range clients + 1 {
				r := <-results
				want, status := p.nar, 200
				if r.header.Get("Content-Range") != "" {
					want, status = p.nar[10:], 206
				}
				if r.err != nil || r.status != status || !bytes.Equal(r.body, want) {
					t.Fatalf("client: %d (%v), %d bytes, want %d with %d bytes", r.status, r.err, len(r.body), status, len(want))
				}
			}
			if n := up.count(p.url); n != 1 {
				t.Fatalf("upstream served the NAR %d times to %d clients, want 1", n, clients+1)
			}
		})
	}
}

// TestMismatchCutsClients: a NAR that does not match its narinfo never
// reaches a client whole and is not kept.
func TestMismatchCutsClients(t *testing.T) {
	key, _ := signature.Generate("upstream-1")
	p := makePath(t, key, 200<<10)
	up := newFake(t, p)
	bad := bytes.Clone(p.nar)
	bad[len(bad)/2] ^= 1
	up.files[p.url] = bad
	dir := filepath.Join(t.TempDir(), "cache")
	srv := start(t, up, key.Public(), dir, 10<<20)
	mustGet(t, srv.URL+"/"+p.hash+".narinfo", 200)
	r := get(t, srv.URL+"/"+p.url)
	if r.err == nil && r.status == 200 && len(r.body) == len(p.nar) {
		t.Fatal("a mismatching NAR was served whole with a 200")
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "nar")); len(ents) != 0 {
		t.Fatalf("the cache kept %d files after a mismatch", len(ents))
	}
	// Fixed upstream: the next request fetches it again and succeeds.
	up.mu.Lock()
	up.files[p.url] = p.nar
	up.mu.Unlock()
	if r := mustGet(t, srv.URL+"/"+p.url, 200); !bytes.Equal(r.body, p.nar) {
		t.Fatal("the refetched NAR differs")
	}
}

// TestEvictionBound: fetching more than --max-size keeps the cache under
// it, the most recently used NARs staying.
func TestEvictionBound(t *testing.T) {
	key, _ := signature.Generate("upstream-1")
	var paths []*path
	for range 6 {
		paths = append(paths, makePath(t, key, 100<<10))
	}
	up := newFake(t, paths...)
	dir := filepath.Join(t.TempDir(), "cache")
	const max = 350 << 10 // room for three
	srv := start(t, up, key.Public(), dir, max)
	for _, p := range paths {
		mustGet(t, srv.URL+"/"+p.hash+".narinfo", 200)
		mustGet(t, srv.URL+"/"+p.url, 200)
		if n := dirSize(t, dir); n > max {
			t.Fatalf("cache holds %d bytes, bound %d", n, max)
		}
	}
	// The last three are kept.
	var kept []string
	ents, _ := os.ReadDir(filepath.Join(dir, "nar"))
	for _, e := range ents {
		kept = append(kept, "nar/"+e.Name())
	}
	var want []string
	for _, p := range paths[3:] {
		want = append(want, p.url)
	}
	slices.Sort(want)
	if !slices.Equal(kept, want) {
		t.Fatalf("cache holds %v, want the last three %v", kept, want)
	}
	for _, p := range paths[3:] {
		mustGet(t, srv.URL+"/"+p.url, 200)
		if n := up.count(p.url); n != 1 {
			t.Errorf("a kept NAR was fetched %d times, want 1", n)
		}
	}
}

func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// TestPassThrough: listings and logs come from the upstream; a NAR whose
// narinfo this proxy never served is passed through, with its range.
func TestPassThrough(t *testing.T) {
	key, _ := signature.Generate("upstream-1")
	p := makePath(t, key, 5000)
	up := newFake(t, p)
	up.files[p.hash+".ls"] = []byte(`{"version":1,"root":{"type":"regular","size":1}}`)
	up.files["log/abc-foo.drv"] = []byte("build log")
	srv := start(t, up, key.Public(), "", 0)
	if r := mustGet(t, srv.URL+"/"+p.hash+".ls", 200); !bytes.Equal(r.body, up.files[p.hash+".ls"]) {
		t.Errorf(".ls: %q", r.body)
	}
	if r := mustGet(t, srv.URL+"/log/abc-foo.drv", 200); string(r.body) != "build log" {
		t.Errorf("log: %q", r.body)
	}
	r := mustGet(t, srv.URL+"/"+p.url, 206, "Range", "bytes=100-199")
	if !bytes.Equal(r.body, p.nar[100:200]) || r.header.Get("Content-Range") != fmt.Sprintf("bytes 100-199/%d", len(p.nar)) {
		t.Errorf("pass-through range: %d bytes, Content-Range %q", len(r.body), r.header.Get("Content-Range"))
	}
	mustGet(t, srv.URL+"/log/missing.drv", 404)
}

// TestPassThroughLyingRange: an upstream that answers a NAR's range with
// a Content-Range for other bytes (or none, or without the file's size)
// is a failed upstream: the client's range gets a 404, never a 206 (or a
// 200) of bytes that are not the ones it asked for.
func TestPassThroughLyingRange(t *testing.T) {
	key, _ := signature.Generate("upstream-1")
	p := makePath(t, key, 5000)
	for _, lie := range []string{"", "bytes 0-99/5000", "bytes 100-199/150", "bytes 100-149/5000", "bytes 100-199/*"} {
		up := newFake(t, p)
		honest := up.Config.Handler
		up.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Range") != "bytes=100-199" {
				honest.ServeHTTP(w, r)
				return
			}
			if lie != "" {
				w.Header().Set("Content-Range", lie)
			}
			w.WriteHeader(http.StatusPartialContent)
			w.Write(p.nar[100:200])
		})
		srv := start(t, up, key.Public(), "", 0)
		r := get(t, srv.URL+"/"+p.url, "Range", "bytes=100-199")
		if r.status != 404 {
			t.Errorf("upstream's Content-Range %q: %d, Content-Range %q, %d bytes (%v), want 404", lie, r.status, r.header.Get("Content-Range"), len(r.body), r.err)
		}
	}
}

// TestUpstreamDown: with the upstream unreachable, narinfos are fast 404s
// (the bound: under a second) and nix-cache-info is the proxy's
// own, so Nix moves on instead of hanging or refusing the substituter.
func TestUpstreamDown(t *testing.T) {
	key, _ := signature.Generate("upstream-1")
	up := newFake(t)
	up.Close() // nothing listens there any more
	srv := start(t, up, key.Public(), "", 0)
	info := mustGet(t, srv.URL+"/nix-cache-info", 200)
	if !strings.Contains(string(info.body), "StoreDir: /nix/store") {
		t.Fatalf("nix-cache-info: %q", info.body)
	}
	for range 2 {
		start := time.Now()
		mustGet(t, srv.URL+"/"+strings.Repeat("1", 32)+".narinfo", 404)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("narinfo with the upstream down took %v, want a fast 404", d)
		}
	}
}

// TestHeadFetchesNoFile: HEAD of a NAR (known or not) and of a listing
// answers its size without the upstream sending the file.
func TestHeadFetchesNoFile(t *testing.T) {
	key, _ := signature.Generate("upstream-1")
	known := makePath(t, key, 100<<10)
	unknown := makePath(t, key, 50<<10)
	up := newFake(t, known, unknown)
	srv := start(t, up, key.Public(), "", 0)
	mustGet(t, srv.URL+"/"+known.hash+".narinfo", 200)
	for _, p := range []*path{known, unknown} {
		r, err := http.Head(srv.URL + "/" + p.url)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 200 || r.ContentLength != int64(len(p.nar)) {
			t.Errorf("HEAD %s: %d, Content-Length %d, want 200 and %d", p.url, r.StatusCode, r.ContentLength, len(p.nar))
		}
	}
	if n := up.count(known.url); n != 0 {
		t.Errorf("HEAD of a known NAR made %d upstream requests, want none", n)
	}
	r, _ := http.Head(srv.URL + "/nar/" + strings.Repeat("0", 52) + ".nar.zst")
	if r.StatusCode != 404 {
		t.Errorf("HEAD of a NAR no upstream has: %d, want 404", r.StatusCode)
	}
}
