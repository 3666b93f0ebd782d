package upstream

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/nixbucket/nixbucket/internal/nix/codec"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.RunS3(m)) }

// testPath is a store path served by a test upstream: its narinfo text and
// NAR file.
type testPath struct {
	hash    string
	info    *narinfo.NarInfo
	text    []byte
	nar     []byte
	narPath string // "nar/….nar.zst"
}

const hashA = "0c2kb3ix3x6w4a5ijfbaqgzkzdnlyrsh"

// makePath makes a store path with a random NAR file of size bytes,
// signed by key (none when key is nil).
func makePath(t *testing.T, hash string, size int, key *signature.SecretKey) *testPath {
	t.Helper()
	nar, narHash := compressedNAR(t, size)
	sum := nixhash.SHA256(sha256.Sum256(nar))
	p := &testPath{hash: hash, nar: nar, narPath: "nar/" + sum.Nix32() + ".nar.zst"}
	p.info = &narinfo.NarInfo{
		StorePath: "/nix/store/" + hash + "-test", URL: p.narPath, Compression: "zstd",
		FileHash: sum.String(), FileSize: uint64(len(nar)),
		NarHash: narHash.String(), NarSize: uint64(size),
	}
	if key != nil {
		p.info.Sign(*key)
	}
	p.text = []byte(p.info.String())
	return p
}

// compressedNAR returns a zstd file of size random bytes (the fetcher
// decodes them, not parses them) and the hash of those bytes.
func compressedNAR(t testing.TB, size int) ([]byte, nixhash.SHA256) {
	t.Helper()
	raw := make([]byte, size)
	rand.Read(raw)
	file, err := codec.Encode("zstd", raw)
	if err != nil {
		t.Fatal(err)
	}
	return file, nixhash.SHA256(sha256.Sum256(raw))
}

// upstream is an httptest binary cache that counts its requests and can
// be held (a NAR body stops halfway until release is closed).
type upstream struct {
	*httptest.Server
	mu       sync.Mutex
	files    map[string][]byte
	hits     map[string]int
	hold     chan struct{} // when set, NAR bodies stop halfway until closed
	held     chan struct{} // closed when a body has reached the halfway point
	heldOnce sync.Once
}

func newUpstream(t *testing.T, paths ...*testPath) *upstream {
	u := &upstream{files: map[string][]byte{}, hits: map[string]int{}}
	for _, p := range paths {
		u.files[p.hash+".narinfo"] = p.text
		u.files[p.narPath] = p.nar
	}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/")
	u.mu.Lock()
	u.hits[key]++
	body, ok := u.files[key]
	hold, held := u.hold, u.held
	u.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if hold == nil || !strings.HasPrefix(key, "nar/") {
		http.ServeContent(w, r, key, time.Time{}, bytes.NewReader(body))
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	half := len(body) / 2
	w.Write(body[:half])
	w.(http.Flusher).Flush()
	u.heldOnce.Do(func() { close(held) })
	select {
	case <-hold:
	case <-r.Context().Done():
		return
	}
	w.Write(body[half:])
}

func (u *upstream) count(key string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hits[key]
}

func newKey(t *testing.T, name string) signature.SecretKey {
	t.Helper()
	k, err := signature.Generate(name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func httpSourceFor(t *testing.T, rawURL string, opts SourceOptions) Source {
	t.Helper()
	if opts.NetrcFile == "" {
		opts.NetrcFile = "/nonexistent"
	}
	s, err := NewSource(t.Context(), rawURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNarinfoTrust(t *testing.T) {
	good, other := newKey(t, "upstream-1"), newKey(t, "someone-else")
	signed := makePath(t, hashA, 100, &good)
	u := newUpstream(t, signed)
	src := httpSourceFor(t, u.URL, SourceOptions{})
	tests := []struct {
		name     string
		keys     []signature.PublicKey
		trustAny bool
		ok       bool
	}{
		{"trusted key", []signature.PublicKey{good.Public()}, false, true},
		{"other key", []signature.PublicKey{other.Public()}, false, false},
		{"no keys", nil, false, false},
		{"trust any", nil, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := New(Config{Sources: []Source{src}, TrustedKeys: tt.keys, TrustAny: tt.trustAny})
			ni, err := f.Narinfo(t.Context(), hashA)
			if !tt.ok {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("Narinfo = %v, want ErrNotFound", err)
				}
				if st := f.Stats()[0]; st.Untrusted != 1 {
					t.Errorf("Untrusted = %d, want 1", st.Untrusted)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ni.Raw, signed.text) || ni.Info.StorePath != signed.info.StorePath || ni.Source != src.Name() {
				t.Errorf("Narinfo = %+v", ni)
			}
		})
	}
}

func TestNarinfoWrongPathRefused(t *testing.T) {
	p := makePath(t, hashA, 10, nil)
	u := newUpstream(t)
	u.files["1c2kb3ix3x6w4a5ijfbaqgzkzdnlyrsh.narinfo"] = p.text // served under another hash
	f := New(Config{Sources: []Source{httpSourceFor(t, u.URL, SourceOptions{})}, TrustAny: true})
	if _, err := f.Narinfo(t.Context(), "1c2kb3ix3x6w4a5ijfbaqgzkzdnlyrsh"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Narinfo = %v, want ErrNotFound", err)
	}
}

func TestPriorityAndNegativeCache(t *testing.T) {
	k := newKey(t, "k")
	p := makePath(t, hashA, 10, &k)
	empty, full := newUpstream(t), newUpstream(t, p)
	f := New(Config{
		Sources:     []Source{httpSourceFor(t, empty.URL, SourceOptions{}), httpSourceFor(t, full.URL, SourceOptions{})},
		TrustedKeys: []signature.PublicKey{k.Public()},
	})
	now := time.Now()
	f.now = func() time.Time { return now }
	ni, err := f.Narinfo(t.Context(), hashA)
	if err != nil || ni.Source != f.Sources()[1] {
		t.Fatalf("Narinfo = %v, %v; want the second source's", ni, err)
	}
	missing := "1c2kb3ix3x6w4a5ijfbaqgzkzdnlyrsh"
	for range 3 {
		if _, err := f.Narinfo(t.Context(), missing); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Narinfo(missing) = %v", err)
		}
	}
	if n := empty.count(missing + ".narinfo"); n != 1 {
		t.Errorf("missing narinfo asked %d times within the TTL, want 1", n)
	}
	now = now.Add(DefaultNegativeTTL + time.Second)
	f.Narinfo(t.Context(), missing)
	if n := full.count(missing + ".narinfo"); n != 2 {
		t.Errorf("missing narinfo asked %d times after the TTL, want 2", n)
	}
}

func TestUnavailable(t *testing.T) {
	// A port nothing listens on: connection refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	status := func(code int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", code)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	// 503 asks to be left alone, 504 stands for a timeout; a 500 or a 502
	// is a prompt answer, asked again (see TestErrorAnswerNotDown).
	for _, url := range []string{dead, status(http.StatusServiceUnavailable), status(http.StatusGatewayTimeout)} {
		f := New(Config{Sources: []Source{httpSourceFor(t, url, SourceOptions{})}, TrustAny: true})
		now := time.Now()
		f.now = func() time.Time { return now }
		for i, step := range []time.Duration{0, DownFor / 2, DownFor} {
			now = now.Add(step)
			_, err := f.Narinfo(t.Context(), hashA)
			if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) {
				t.Fatalf("%s: Narinfo %d = %v, want ErrUnavailable", url, i, err)
			}
		}
		// The second call came while the source was down: not sent. The
		// third, after DownFor: sent, as an error is no cached miss.
		if st := f.Stats()[0]; st.Errors != 2 || st.Fetches != 2 {
			t.Errorf("%s: stats %+v, want 2 requests, both failed", url, st)
		}
	}
}

// TestErrorAnswerNotDown: an upstream that promptly answers a request
// with a 500 or a 502 is not skipped for DownFor: the next path is asked
// at once (skipping it would answer a 404 for every path for seconds,
// which Nix remembers for an hour).
func TestErrorAnswerNotDown(t *testing.T) {
	k := newKey(t, "k")
	good := makePath(t, hashA, 100, &k)
	for _, code := range []int{http.StatusInternalServerError, http.StatusBadGateway} {
		u := newUpstream(t, good)
		broken := "nar/" + strings.Repeat("1", 52) + ".nar.zst"
		honest := u.Config.Handler
		u.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/"+broken {
				http.Error(w, "boom", code)
				return
			}
			honest.ServeHTTP(w, r)
		})
		f := fetcherFor(t, u, k.Public())
		body, _, _, err := f.Open(t.Context(), broken, nil)
		if err == nil {
			body.Close()
			t.Fatalf("%d: Open succeeded", code)
		}
		if _, err := f.Narinfo(t.Context(), hashA); err != nil {
			t.Errorf("%d: Narinfo right after another file's error answer: %v, want the narinfo", code, err)
		}
	}
}

// TestNarinfoTrickle: an upstream that answers a narinfo at once and
// then trickles its body fails the lookup once twice the narinfo timeout
// has passed, and is skipped for DownFor like one that does not answer.
func TestNarinfoTrickle(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		for {
			w.Write([]byte("S"))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}))
	defer srv.Close()
	f := New(Config{Sources: []Source{httpSourceFor(t, srv.URL, SourceOptions{})}, TrustAny: true, NarinfoTimeout: 50 * time.Millisecond})
	for i := range 2 {
		// Bounded, so that a lookup the trickle holds fails instead of
		// hanging.
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		_, err := f.Narinfo(ctx, hashA)
		cancel()
		if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) {
			t.Fatalf("Narinfo %d = %v, want ErrUnavailable", i, err)
		}
	}
	if st := f.Stats()[0]; st.Fetches != 1 {
		t.Errorf("stats %+v, want 1 request: the second lookup skips the source", st)
	}
}

func TestFirstByteTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	f := New(Config{Sources: []Source{httpSourceFor(t, slow.URL, SourceOptions{Timeouts: Timeouts{FirstByte: 50 * time.Millisecond}})}, TrustAny: true})
	if _, err := f.Narinfo(t.Context(), hashA); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Narinfo = %v, want ErrUnavailable", err)
	}
}

func TestCredentials(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
		http.NotFound(w, r)
	}))
	defer srv.Close()
	netrc := t.TempDir() + "/netrc"
	os.WriteFile(netrc, []byte("machine 127.0.0.1 login alice password s3cret\n"), 0o600)
	tests := []struct {
		name string
		opts SourceOptions
		want string
	}{
		{"anonymous", SourceOptions{}, ""},
		{"netrc", SourceOptions{NetrcFile: netrc}, "Basic YWxpY2U6czNjcmV0"},
		{"bearer", SourceOptions{BearerToken: "tok"}, "Bearer tok"},
	}
	tokFile := t.TempDir() + "/token"
	os.WriteFile(tokFile, []byte("filetok\n"), 0o600)
	tests = append(tests,
		struct {
			name string
			opts SourceOptions
			want string
		}{"netrc-file in the URL", SourceOptions{}, "Basic YWxpY2U6czNjcmV0"},
		struct {
			name string
			opts SourceOptions
			want string
		}{"bearer-token-file in the URL", SourceOptions{}, "Bearer filetok"})
	urls := map[string]string{
		"netrc-file in the URL":        srv.URL + "?netrc-file=" + netrc,
		"bearer-token-file in the URL": srv.URL + "?bearer-token-file=" + tokFile,
	}
	for _, tt := range tests {
		u := srv.URL
		if v, ok := urls[tt.name]; ok {
			u = v
		}
		src := httpSourceFor(t, u, tt.opts)
		if _, _, err := src.Open(t.Context(), "nix-cache-info", nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: Open = %v", tt.name, err)
		}
		if a, _ := got.Load().(string); a != tt.want {
			t.Errorf("%s: Authorization %q, want %q", tt.name, a, tt.want)
		}
	}
}

// sink records what a download hands it.
type sink struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	committed int
	aborted   int
	tempSeen  []byte
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *sink) Commit(ctx context.Context, tempPath string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.committed++
	s.tempSeen, _ = os.ReadFile(tempPath)
	return nil
}

func (s *sink) Abort(error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.aborted++
}

func fetcherFor(t *testing.T, u *upstream, keys ...signature.PublicKey) *Fetcher {
	return New(Config{Sources: []Source{httpSourceFor(t, u.URL, SourceOptions{Timeouts: Timeouts{Idle: 5 * time.Second}})}, TrustedKeys: keys})
}

func TestNARSingleflightStreaming(t *testing.T) {
	k := newKey(t, "k")
	p := makePath(t, hashA, 1<<20, &k)
	u := newUpstream(t, p)
	u.hold, u.held = make(chan struct{}), make(chan struct{})
	f := fetcherFor(t, u, k.Public())
	ni, err := f.Narinfo(t.Context(), hashA)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sk := &sink{}
	const clients = 8
	var downloads []*Download
	started := 0
	for range clients {
		d, s, err := f.FetchNAR(t.Context(), NARRequest{Source: ni.Source, Info: ni.Info, Dir: dir, Sink: sk})
		if err != nil {
			t.Fatal(err)
		}
		if s {
			started++
		}
		downloads = append(downloads, d)
	}
	if started != 1 {
		t.Fatalf("%d downloads started, want 1", started)
	}
	// While the upstream holds the second half back, a reader already
	// gets the first half: the file is served as it arrives.
	<-u.held
	r, _ := downloads[0].NewReader(t.Context(), 0, -1)
	first := make([]byte, len(p.nar)/2)
	if _, err := io.ReadFull(r, first); err != nil || !bytes.Equal(first, p.nar[:len(first)]) {
		t.Fatalf("first half while held: %v", err)
	}
	r.Close()
	close(u.hold)
	var wg sync.WaitGroup
	for i, d := range downloads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer d.Close()
			r, err := d.NewReader(t.Context(), 0, -1)
			if err != nil {
				t.Error(err)
				return
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, p.nar) {
				t.Errorf("client %d: %d bytes, %v", i, len(got), err)
			}
		}()
	}
	wg.Wait()
	if n := u.count(p.narPath); n != 1 {
		t.Errorf("upstream served the NAR %d times, want 1", n)
	}
	// The readers had their last bytes once the file was verified; the
	// sink's Commit may still be running.
	if err := downloads[0].Settled(t.Context()); err != nil {
		t.Fatal(err)
	}
	sk.mu.Lock()
	if sk.committed != 1 || sk.aborted != 0 || !bytes.Equal(sk.buf.Bytes(), p.nar) || !bytes.Equal(sk.tempSeen, p.nar) {
		t.Errorf("sink: committed %d aborted %d, %d bytes", sk.committed, sk.aborted, sk.buf.Len())
	}
	sk.mu.Unlock()
	// Joined within the grace period: no new download.
	d, s, err := f.FetchNAR(t.Context(), NARRequest{Source: ni.Source, Info: ni.Info, Dir: dir})
	if err != nil || s {
		t.Fatalf("FetchNAR after the end: started %v, %v", s, err)
	}
	r, _ = d.NewReader(t.Context(), 0, -1)
	if err := iotest.TestReader(r, p.nar); err != nil {
		t.Error(err)
	}
	r.Close()
	d.Close()
	if st := f.Stats()[0]; st.Bytes != uint64(len(p.nar)+len(p.text)) {
		t.Errorf("Bytes = %d, want %d", st.Bytes, len(p.nar)+len(p.text))
	}
}

func TestNARRange(t *testing.T) {
	p := makePath(t, hashA, 300<<10, nil)
	u := newUpstream(t, p)
	f := New(Config{Sources: []Source{httpSourceFor(t, u.URL, SourceOptions{})}, TrustAny: true})
	ni, err := f.Narinfo(t.Context(), hashA)
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := f.FetchNAR(t.Context(), NARRequest{Source: ni.Source, Info: ni.Info, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, rg := range [][2]int64{{0, 1}, {1000, 5000}, {int64(len(p.nar)) - 10, -1}, {int64(len(p.nar)), -1}} {
		r, err := d.NewReader(t.Context(), rg[0], rg[1])
		if err != nil {
			t.Fatal(err)
		}
		end := int64(len(p.nar))
		if rg[1] >= 0 {
			end = rg[0] + rg[1]
		}
		if err := iotest.TestReader(r, p.nar[rg[0]:end]); err != nil {
			t.Errorf("range %v: %v", rg, err)
		}
		r.Close()
	}
}

func TestNARMismatch(t *testing.T) {
	tests := []struct {
		name   string
		tamper func([]byte) []byte
	}{
		{"flipped byte", func(b []byte) []byte { c := bytes.Clone(b); c[len(c)/2] ^= 1; return c }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
		{"longer", func(b []byte) []byte { return append(bytes.Clone(b), 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKey(t, "k")
			p := makePath(t, hashA, 200<<10, &k)
			u := newUpstream(t, p)
			u.files[p.narPath] = tt.tamper(p.nar)
			f := fetcherFor(t, u, k.Public())
			ni, err := f.Narinfo(t.Context(), hashA)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			sk := &sink{}
			got, err := fetchAll(t, f, NARRequest{Source: ni.Source, Info: ni.Info, Dir: dir, Sink: sk})
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("read %d bytes, err %v; want ErrMismatch", len(got), err)
			}
			if len(got) >= len(p.nar) {
				t.Errorf("reader got all %d bytes of a bad file", len(got))
			}
			if sk.committed != 0 || sk.aborted != 1 {
				t.Errorf("sink committed %d, aborted %d", sk.committed, sk.aborted)
			}
			if st := f.Stats()[0]; st.Mismatches != 1 {
				t.Errorf("Mismatches = %d", st.Mismatches)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("temp files left: %v", ents)
			}
			// Fixed upstream: the next request downloads again and succeeds.
			u.mu.Lock()
			u.files[p.narPath] = p.nar
			u.mu.Unlock()
			d, started, err := f.FetchNAR(t.Context(), NARRequest{Source: ni.Source, Info: ni.Info, Dir: dir, Sink: sk})
			if err != nil || !started {
				t.Fatalf("FetchNAR after a failure: started %v, %v", started, err)
			}
			if err := d.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
			if err := d.Settled(t.Context()); err != nil {
				t.Fatal(err)
			}
			d.Close()
			sk.mu.Lock()
			defer sk.mu.Unlock()
			if sk.committed != 1 {
				t.Errorf("committed %d after the fix", sk.committed)
			}
		})
	}
}

func TestNARIdleTimeout(t *testing.T) {
	p := makePath(t, hashA, 100<<10, nil)
	u := newUpstream(t, p)
	u.hold, u.held = make(chan struct{}), make(chan struct{})
	defer close(u.hold)
	f := New(Config{Sources: []Source{httpSourceFor(t, u.URL, SourceOptions{Timeouts: Timeouts{Idle: 100 * time.Millisecond}})}, TrustAny: true})
	ni, err := f.Narinfo(t.Context(), hashA)
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := f.FetchNAR(t.Context(), NARRequest{Source: ni.Source, Info: ni.Info, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Wait(t.Context()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Wait = %v, want ErrUnavailable from a stalled body", err)
	}
}

func TestMaxConns(t *testing.T) {
	var inFlight, most atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		<-release
		http.NotFound(w, r)
	}))
	defer srv.Close()
	f := New(Config{Sources: []Source{httpSourceFor(t, srv.URL, SourceOptions{})}, MaxConns: 2, NegativeTTL: -1})
	var wg sync.WaitGroup
	hashes := []string{"0c2kb3ix3x6w4a5ijfbaqgzkzdnlyrs0", "0c2kb3ix3x6w4a5ijfbaqgzkzdnlyrs1", "0c2kb3ix3x6w4a5ijfbaqgzkzdnlyrs2", "0c2kb3ix3x6w4a5ijfbaqgzkzdnlyrs3", "0c2kb3ix3x6w4a5ijfbaqgzkzdnlyrs4"}
	for _, h := range hashes {
		wg.Add(1)
		go func() { defer wg.Done(); f.Narinfo(t.Context(), h) }()
	}
	for inFlight.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if m := most.Load(); m != 2 {
		t.Errorf("at most %d requests at once, want 2", m)
	}
}

// TestNarinfoNotBehindDownloads: with every file slot of a source held
// by NAR downloads, a narinfo lookup still goes out at once (it has slots
// of its own), and a further file request waits for a slot.
func TestNarinfoNotBehindDownloads(t *testing.T) {
	k := newKey(t, "k")
	p, q := makePath(t, hashA, 1<<20, &k), makePath(t, "0c2kb3ix3x6w4a5ijfbaqgzkzdnlyrs1", 1000, &k)
	u := newUpstream(t, p, q)
	u.hold, u.held = make(chan struct{}), make(chan struct{})
	f := New(Config{Sources: []Source{httpSourceFor(t, u.URL, SourceOptions{Timeouts: Timeouts{Idle: 5 * time.Second}})},
		TrustedKeys: []signature.PublicKey{k.Public()}, MaxConns: 1})
	ni, err := f.Narinfo(t.Context(), hashA)
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := f.FetchNAR(t.Context(), NARRequest{Source: ni.Source, Info: ni.Info, Dir: t.TempDir(), Sink: &sink{}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	<-u.held // the download holds the one file slot, its body half sent
	if _, err := f.Narinfo(t.Context(), q.hash); err != nil {
		t.Fatalf("narinfo lookup while a download holds the file slot: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, _, _, err := f.Open(ctx, q.narPath, nil); err == nil {
		t.Fatal("a second file request got a slot while the download held the only one")
	}
	close(u.hold)
	r, err := d.NewReader(t.Context(), 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, p.nar) {
		t.Fatalf("the download after its release: %d bytes, %v", len(got), err)
	}
}

func TestOpen(t *testing.T) {
	empty, full := newUpstream(t), newUpstream(t)
	full.files["nix-cache-info"] = []byte("StoreDir: /nix/store\n")
	f := New(Config{Sources: []Source{httpSourceFor(t, empty.URL, SourceOptions{}), httpSourceFor(t, full.URL, SourceOptions{})}})
	body, size, src, err := f.Open(t.Context(), "nix-cache-info", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(body)
	body.Close()
	if string(got) != "StoreDir: /nix/store\n" || size != int64(len(got)) || src != f.Sources()[1] {
		t.Errorf("Open = %q, %d, %s", got, size, src)
	}
	body, size, _, err = f.Open(t.Context(), "nix-cache-info", &Range{Offset: 5, Length: 3})
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(body)
	body.Close()
	if string(got) != "Dir" || size != 21 {
		t.Errorf("Open range = %q, %d", got, size)
	}
	if _, _, _, err := f.Open(t.Context(), "log/missing", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(missing) = %v, want ErrNotFound", err)
	}
}

// fetchAll starts req's download, reads it whole through one reader and
// closes both; it returns what the reader read and its error.
func fetchAll(t *testing.T, f *Fetcher, req NARRequest) ([]byte, error) {
	t.Helper()
	d, _, err := f.FetchNAR(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r, _ := d.NewReader(t.Context(), 0, -1)
	defer r.Close()
	return io.ReadAll(r)
}

// TestNARDecodedMismatch: a compressed file that matches its narinfo's
// FileHash and FileSize but does not decode to its NarHash and NarSize (a
// wrong narinfo signed upstream) fails its readers before their last byte
// and is not committed, as a file with a wrong FileHash is: kept, it would
// be served for good and fail every client.
func TestNARDecodedMismatch(t *testing.T) {
	other := nixhash.SHA256(sha256.Sum256([]byte("another NAR")))
	tests := []struct {
		name string
		edit func(p *testPath)
	}{
		{"NarHash", func(p *testPath) { p.info.NarHash = other.String() }},
		{"NarSize smaller", func(p *testPath) { p.info.NarSize-- }},
		{"NarSize larger", func(p *testPath) { p.info.NarSize++ }},
		{"not zstd", func(p *testPath) {
			p.nar = bytes.Repeat([]byte("not a zstd frame "), 10000)
			sum := nixhash.SHA256(sha256.Sum256(p.nar))
			p.info.FileHash, p.info.FileSize = sum.String(), uint64(len(p.nar))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKey(t, "k")
			p := makePath(t, hashA, 300<<10, &k)
			tt.edit(p)
			p.info.Sigs = nil
			p.info.Sign(k)
			p.text = []byte(p.info.String())
			u := newUpstream(t, p)
			f := fetcherFor(t, u, k.Public())
			ni, err := f.Narinfo(t.Context(), hashA)
			if err != nil {
				t.Fatal(err)
			}
			sk := &sink{}
			got, err := fetchAll(t, f, NARRequest{Source: ni.Source, Info: ni.Info, Dir: t.TempDir(), Sink: sk, EarlyRelease: true})
			if !errors.Is(err, ErrMismatch) || len(got) >= len(p.nar) {
				t.Fatalf("read %d of %d bytes, err %v; want ErrMismatch before the last byte", len(got), len(p.nar), err)
			}
			sk.mu.Lock()
			defer sk.mu.Unlock()
			if sk.committed != 0 || sk.aborted != 1 {
				t.Errorf("sink committed %d, aborted %d", sk.committed, sk.aborted)
			}
			if st := f.Stats()[0]; st.Mismatches != 1 {
				t.Errorf("Mismatches = %d", st.Mismatches)
			}
		})
	}
}

// TestNarinfoContentAddressed: an unsigned narinfo is accepted (ByCA) when
// its StorePath is the one its CA makes, as Nix accepts it, and refused
// when the address does not make the path or, for a recursive sha256
// address, is not its NarHash.
func TestNarinfoContentAddressed(t *testing.T) {
	const path, ca = "/nix/store/48x44xldsmc8snq84ynchvny8ky63b7x-ca-probe-file.txt", "fixed:r:sha256:0mk21sjd6ps1096m2q0sp8r29fd0fsd0d453ysmwg9kka9bkjx5y"
	other := nixhash.SHA256(sha256.Sum256([]byte("x"))).String()
	tests := []struct {
		name          string
		path, narHash string
		ok            bool
	}{
		{"matches", path, "sha256:0mk21sjd6ps1096m2q0sp8r29fd0fsd0d453ysmwg9kka9bkjx5y", true},
		{"NarHash not the address", path, other, false},
		{"another name", strings.Replace(path, "file.txt", "file.tx", 1), "sha256:0mk21sjd6ps1096m2q0sp8r29fd0fsd0d453ysmwg9kka9bkjx5y", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hash := tt.path[len("/nix/store/"):][:32]
			ni := &narinfo.NarInfo{StorePath: tt.path, URL: "nar/" + strings.Repeat("1", 52) + ".nar.xz", Compression: "xz",
				FileHash: other, FileSize: 100, NarHash: tt.narHash, NarSize: 144, CA: ca}
			u := newUpstream(t)
			u.files[hash+".narinfo"] = []byte(ni.String())
			f := fetcherFor(t, u, newKey(t, "k").Public())
			got, err := f.Narinfo(t.Context(), hash)
			if tt.ok != (err == nil) || err == nil && !got.ByCA {
				t.Fatalf("Narinfo = %+v, %v; want accepted %v by its CA", got, err, tt.ok)
			}
		})
	}
}

// TestContentEncoding: a narinfo an upstream answers with a stored
// Content-Encoding (a cache written with narinfo-compression) is decoded
// and accepted; a NAR file is passed as it is, whatever header comes with
// it, its compression being the narinfo's.
func TestContentEncoding(t *testing.T) {
	k := newKey(t, "k")
	p := makePath(t, hashA, 1000, &k)
	for _, enc := range []string{"br", "gzip", "zstd"} {
		body, err := codec.Encode(enc, p.text)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", enc)
			if r.URL.Path == "/"+p.narPath {
				w.Write(p.nar)
				return
			}
			w.Write(body)
		}))
		t.Cleanup(srv.Close)
		f := New(Config{Sources: []Source{httpSourceFor(t, srv.URL, SourceOptions{})}, TrustedKeys: []signature.PublicKey{k.Public()}})
		ni, err := f.Narinfo(t.Context(), hashA)
		if err != nil {
			t.Fatalf("%s: Narinfo: %v", enc, err)
		}
		if got, err := fetchAll(t, f, NARRequest{Source: ni.Source, Info: ni.Info, Dir: t.TempDir()}); err != nil || !bytes.Equal(got, p.nar) {
			t.Errorf("%s: NAR %d bytes, %v, want the file as served", enc, len(got), err)
		}
	}
}
