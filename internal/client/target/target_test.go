package target

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/client/spool"
	"github.com/nixbucket/nixbucket/internal/client/storeurl"
)

func TestParseNetrc(t *testing.T) {
	tests := []struct {
		name, data string
		host       string
		login, pw  string
		found      bool
		err        string
	}{
		{"one line", "machine h login u password p\n", "h", "u", "p", true, ""},
		{"first wins", "machine h login a password 1\nmachine h login b password 2", "h", "a", "1", true, ""},
		{"spread over lines", "machine h\n  login u\n  password p\n", "h", "u", "p", true, ""},
		{"default", "machine x login a password 1\ndefault login d password dp\n", "h", "d", "dp", true, ""},
		{"other host", "machine x login a password 1", "h", "", "", false, ""},
		{"account and comments", "# comment\nmachine h login u account z password p", "h", "u", "p", true, ""},
		{"macdef skipped", "macdef init\ncd /\nput x\n\nmachine h login u password p", "h", "u", "p", true, ""},
		{"macdef last", "machine h login u password p\nmacdef init\nlogin x\n", "h", "u", "p", true, ""},
		{"comment inside an entry", "machine h\n  # note: login z\n  login u password p", "h", "u", "p", true, ""},
		{"crlf", "machine h\r\nlogin u\r\npassword p\r\n", "h", "u", "p", true, ""},
		{"dangling", "machine h login", "h", "", "", false, "needs a value"},
		{"garbage", "hello", "h", "", "", false, "unexpected"},
		{"login outside", "login u", "h", "", "", false, "outside"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "netrc")
			if err := os.WriteFile(file, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			login, pw, found, err := netrcLookup(file, tt.host)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || login != tt.login || pw != tt.pw || found != tt.found {
				t.Errorf("got %q %q %v %v, want %q %q %v", login, pw, found, err, tt.login, tt.pw, tt.found)
			}
		})
	}
	if _, _, _, err := netrcLookup(filepath.Join(t.TempDir(), "missing"), "h"); err == nil {
		t.Error("a missing --netrc-file: no error")
	}
	t.Setenv("NETRC", filepath.Join(t.TempDir(), "missing"))
	if _, _, found, err := netrcLookup("", "h"); err != nil || found {
		t.Errorf("a missing default netrc: %v %v, want nothing", found, err)
	}
}

// fakeCache is an HTTP binary cache in memory that counts requests and can
// fail the first few.
type fakeCache struct {
	mu       sync.Mutex
	files    map[string][]byte
	headers  map[string]http.Header
	auth     string // required Authorization header; "" for none
	failures atomic.Int32
	requests atomic.Int32
}

func (f *fakeCache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if f.auth != "" && r.Header.Get("Authorization") != f.auth {
		http.Error(w, "credentials required", http.StatusUnauthorized)
		return
	}
	if f.failures.Add(-1) >= 0 {
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	key := strings.TrimPrefix(r.URL.Path, "/cache/")
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Method {
	case http.MethodPut:
		b, err := io.ReadAll(r.Body)
		if err != nil || int64(len(b)) != r.ContentLength {
			http.Error(w, "short body", http.StatusBadRequest)
			return
		}
		f.files[key], f.headers[key] = b, r.Header.Clone()
	case http.MethodGet, http.MethodHead:
		b, ok := f.files[key]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	}
}

func newFakeCache(t *testing.T, auth string) (*fakeCache, *storeurl.Store) {
	f := &fakeCache{files: map[string][]byte{}, headers: map[string]http.Header{}, auth: auth}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	u, err := storeurl.Parse(srv.URL + "/cache/")
	if err != nil {
		t.Fatal(err)
	}
	return f, u
}

func TestHTTP(t *testing.T) {
	defer func(d time.Duration) { baseBackoff = d }(baseBackoff)
	baseBackoff = time.Millisecond
	ctx := context.Background()
	f, u := newFakeCache(t, "Bearer s3cret")
	tgt, err := Open(ctx, u, Options{BearerToken: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close()
	if _, err := tgt.Get(ctx, "nix-cache-info"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a missing file: %v, want ErrNotFound", err)
	}
	body := strings.Repeat("nar bytes ", 200000)
	var sent atomic.Int64
	f.failures.Store(2) // two 503s, then success
	err = tgt.Put(ctx, "nar/x.nar.zst", spool.FromBytes([]byte(body)), Meta{ContentType: "application/x-nix-nar", ContentEncoding: "", Progress: func(n int64) { sent.Add(n) }})
	if err != nil {
		t.Fatalf("Put after two 503s: %v", err)
	}
	if string(f.files["nar/x.nar.zst"]) != body || sent.Load() != int64(len(body)) {
		t.Errorf("stored %d bytes, progress %d, want %d", len(f.files["nar/x.nar.zst"]), sent.Load(), len(body))
	}
	if h := f.headers["nar/x.nar.zst"]; h.Get("Content-Type") != "application/x-nix-nar" || h.Get("Content-Encoding") != "" {
		t.Errorf("headers %v", h)
	}
	if err := tgt.Put(ctx, "x.narinfo", spool.FromBytes([]byte("enc")), Meta{ContentType: "text/x-nix-narinfo", ContentEncoding: "br"}); err != nil {
		t.Fatal(err)
	}
	if h := f.headers["x.narinfo"]; h.Get("Content-Encoding") != "br" {
		t.Errorf("Content-Encoding %q, want br", h.Get("Content-Encoding"))
	}
	if size, err := tgt.Stat(ctx, "nar/x.nar.zst"); err != nil || size != int64(len(body)) {
		t.Errorf("Stat = %d, %v", size, err)
	}
	if _, err := tgt.Stat(ctx, "missing.narinfo"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat of a missing file: %v", err)
	}
	// A server that keeps failing: the error says so after the attempts.
	f.failures.Store(100)
	before := f.requests.Load()
	err = tgt.Put(ctx, "y", spool.FromBytes([]byte("y")), Meta{})
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "gave up after 6 attempts") || f.requests.Load()-before != attempts {
		t.Errorf("Put to a failing server: %v after %d requests", err, f.requests.Load()-before)
	}
}

func TestHTTPAuth(t *testing.T) {
	ctx := context.Background()
	_, u := newFakeCache(t, "Basic dTpw") // u:p
	netrc := filepath.Join(t.TempDir(), "netrc")
	if err := os.WriteFile(netrc, []byte("machine 127.0.0.1 login u password p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tgt, err := Open(ctx, u, Options{NetrcFile: netrc})
	if err != nil {
		t.Fatal(err)
	}
	if err := tgt.Put(ctx, "a", spool.FromBytes([]byte("a")), Meta{}); err != nil {
		t.Errorf("Put with netrc credentials: %v", err)
	}
	for _, o := range []Options{{NetrcFile: filepath.Join(t.TempDir(), "empty-netrc")}, {BearerToken: "wrong"}} {
		if o.NetrcFile != "" {
			os.WriteFile(o.NetrcFile, nil, 0o600)
		}
		tgt, err := Open(ctx, u, o)
		if err != nil {
			t.Fatal(err)
		}
		_, err = tgt.Get(ctx, "a")
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("%+v: Get: %v, want a 401 error", o, err)
		}
		if want := map[bool]string{true: "netrc", false: "refused the bearer token"}[o.NetrcFile != ""]; err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want advice mentioning %q", o, err, want)
		}
	}
}

func TestFile(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cache")
	u, err := storeurl.Parse("file://" + dir)
	if err != nil {
		t.Fatal(err)
	}
	tgt, err := Open(ctx, u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "nar")); err != nil || !fi.IsDir() {
		t.Fatalf("Open did not create nar/: %v", err)
	}
	if _, err := tgt.Stat(ctx, "nix-cache-info"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat of a missing file: %v", err)
	}
	if err := tgt.Put(ctx, "nar/a.nar", spool.FromBytes([]byte("abc")), Meta{}); err != nil {
		t.Fatal(err)
	}
	if b, err := tgt.Get(ctx, "nar/a.nar"); err != nil || string(b) != "abc" {
		t.Errorf("Get = %q, %v", b, err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "nar"))
	if len(entries) != 1 {
		t.Errorf("nar/ holds %d files, want 1 (no temporary files left)", len(entries))
	}
	for _, key := range []string{"../escape", "/abs", ""} {
		if err := tgt.Put(ctx, key, spool.FromBytes(nil), Meta{}); err == nil {
			t.Errorf("Put(%q): no error", key)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := tgt.Put(cctx, "late", spool.FromBytes([]byte("x")), Meta{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "late")); err == nil {
		t.Error("a cancelled Put left its file")
	}
}

func TestJournal(t *testing.T) {
	state := t.TempDir()
	dead := newJournal(state, "endpoint/bucket")
	dead.creating("nar/a")
	if err := dead.started("nar/a", "id-a"); err != nil {
		t.Fatal(err)
	}
	// Killed between creating an upload and learning its id.
	if err := dead.creating("nar/d"); err != nil {
		t.Fatal(err)
	}
	dead.started("nar/b", "id-b")
	dead.started("nar/c", "id-c")
	dead.finished("id-b")
	// The process "dies": its lock goes, its file stays.
	name := dead.f.Name()
	dead.f.Close()

	live := newJournal(state, "endpoint/bucket")
	live.started("nar/live", "id-live") // holds its lock
	other := newJournal(state, "endpoint/other-bucket")
	other.started("nar/o", "id-o")
	other.f.Close()

	j := newJournal(state, "endpoint/bucket")
	stale, pending, done, err := j.recover()
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0] != "nar/d" {
		t.Errorf("recover pending = %q, want [nar/d]", pending)
	}
	if len(stale) != 2 || stale[0] != (staleUpload{"nar/a", "id-a"}) || stale[1] != (staleUpload{"nar/c", "id-c"}) {
		t.Errorf("recover = %+v, want the open uploads a and c of the dead process only", stale)
	}
	done()
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Errorf("the dead process's journal is still there: %v", err)
	}
	if _, err := os.Stat(live.f.Name()); err != nil {
		t.Errorf("a live process's journal was removed: %v", err)
	}
	if _, err := os.Stat(other.f.Name()); err != nil {
		t.Errorf("another target's journal was removed: %v", err)
	}
	// A journal whose uploads all finished is removed on close; the lock
	// is really held meanwhile.
	live.finished("id-live")
	f, _ := os.Open(live.f.Name())
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		t.Error("a live journal is not locked")
	}
	f.Close()
	live.close()
	if _, err := os.Stat(f.Name()); !os.IsNotExist(err) {
		t.Errorf("a finished journal was not removed on close: %v", err)
	}
	// One with an upload that could not be aborted stays for the next run.
	kept := newJournal(state, "endpoint/bucket")
	kept.started("nar/k", "id-k")
	keptName := kept.f.Name()
	kept.close()
	if stale, _, done, _ := newJournal(state, "endpoint/bucket").recover(); len(stale) != 1 || stale[0].uploadID != "id-k" {
		t.Errorf("after a close with an open upload, recover = %+v", stale)
	} else {
		done()
	}
	if _, err := os.Stat(keptName); !os.IsNotExist(err) {
		t.Errorf("recovered journal not removed: %v", err)
	}
	var nilJournal *journal
	if err := nilJournal.started("k", "id"); err != nil {
		t.Errorf("a disabled journal: %v", err)
	}
}

func TestPartSize(t *testing.T) {
	tgt := &s3Target{presetHash: true, params: storeurl.S3{MultipartUpload: true, ChunkSize: 5 << 20, MultipartThreshold: 100 << 20}}
	tests := []struct{ size, want int64 }{
		{99 << 20, 0},          // one PUT
		{100 << 20, 5 << 20},   // the chunk size
		{50000 << 20, 5 << 20}, // 10,000 parts
		{50001 << 20, 6 << 20}, // grown to fit in 10,000 parts, whole MiB
		{5 << 40, 525 << 20},   // 5 TiB, S3's object limit
	}
	for _, tt := range tests {
		if got := tgt.PartSize(tt.size); got != tt.want {
			t.Errorf("PartSize(%d) = %d, want %d", tt.size, got, tt.want)
		}
		if ps := tgt.partSize(tt.size); (tt.size+ps-1)/ps > maxParts {
			t.Errorf("partSize(%d) = %d: more than %d parts", tt.size, ps, maxParts)
		}
	}
	tgt.presetHash = false
	if got := tgt.PartSize(1 << 30); got != 0 {
		t.Errorf("PartSize over https = %d, want 0 (no hashes needed)", got)
	}
}
