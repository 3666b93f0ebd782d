package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
)

// The real-Nix suite: Debian's Nix 2.8 pushes closures to nixbucket and
// substitutes them back with signatures required, and curl reproduces what
// other Nix generations send. Every case checks outcomes: NAR dumps
// byte-identical to the build, what the server stored and indexed, and
// what it refused.

// TestNixCopyHTTP pushes a closure with `nix copy --to http://…` (zstd,
// listings, a client key, credentials from a netrc), then gets it back with
// nix-store -r trusting only the server's key, then with nix copy --from,
// and asks the cache about it with nix path-info and nix store ping.
func TestNixCopyHTTP(t *testing.T) {
	t.Parallel()
	s := nixStart(t)
	c := nixBuildClosure(t, 3, 4, "copy")
	cache := nixCacheURL(s, nixCacheBucket)
	serverKey := nixServerKey(t, s, nixCacheBucket)
	clientSec, clientPubFile := nixGenerateKey(t, "nixe2e-client-1")
	clientPub, err := os.ReadFile(clientPubFile)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("copy-to", func(t *testing.T) {
		nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s),
			"--to", cache+"?compression=zstd&write-nar-listing=1&secret-key="+clientSec, c.Top)
		if n := nixCachePaths(t, s, nixCacheBucket); n != len(c.Paths) {
			t.Errorf("bucket info: %d store paths, want %d", n, len(c.Paths))
		}
		narHashes := strings.Fields(nixMust(t, "nix-store", append([]string{"--query", "--hash"}, c.Paths...)...))
		for i, p := range c.Paths {
			ni := nixGetNarinfo(t, s, nixCacheBucket, p)
			if ni.Compression != "zstd" || !strings.HasSuffix(ni.URL, ".nar.zst") {
				t.Errorf("%s: Compression %q URL %q, want zstd nar/….nar.zst", p, ni.Compression, ni.URL)
			}
			if i < len(narHashes) && ni.NarHash != narHashes[i] {
				t.Errorf("%s: NarHash %s, want %s (nix-store -q --hash)", p, ni.NarHash, narHashes[i])
			}
			if !ni.Verify(nixPublicKey(t, serverKey)) {
				t.Errorf("%s: no valid signature by the server's key %s: %q", p, serverKey, ni.Sigs)
			}
			if !ni.Verify(nixPublicKey(t, string(clientPub))) {
				t.Errorf("%s: the client's signature was lost: %q", p, ni.Sigs)
			}
			r := nixHTTP(t, nixNetrc(s), http.MethodHead, cache+"/"+ni.URL)
			if r.Status != http.StatusOK || r.Header.Get("Content-Length") != strconv.FormatUint(ni.FileSize, 10) {
				t.Errorf("HEAD %s: %d Content-Length %q, want 200 %d", ni.URL, r.Status, r.Header.Get("Content-Length"), ni.FileSize)
			}
			nixCheckNARHeaders(t, ni.URL, r.Header)
			nixCheckListing(t, s, p)
		}
	})

	t.Run("substitute", func(t *testing.T) {
		c.delete(t)
		nixMustSubstitute(t, cache, serverKey, nixNetrc(s), c.Top)
		c.checkDumps(t)
	})

	t.Run("copy-from", func(t *testing.T) {
		c.delete(t)
		nixMust(t, "nix", "copy", "--from", cache, "--option", "substituters", "",
			"--option", "trusted-public-keys", serverKey, "--option", "require-sigs", "true",
			"--option", "netrc-file", nixNetrc(s), c.Top)
		c.checkDumps(t)
	})

	t.Run("path-info", func(t *testing.T) {
		out := nixMust(t, "nix", "path-info", "--recursive", "--store", cache,
			"--option", "substituters", "", "--option", "netrc-file", nixNetrc(s), c.Top)
		got, want := strings.Fields(out), slices.Clone(c.Paths)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("nix path-info -r --store %s %s:\n%s\nwant the closure %q", cache, c.Top, out, want)
		}
	})

	t.Run("store-ping", func(t *testing.T) {
		r := nixRun(t, "nix", "store", "ping", "--store", cache, "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s))
		if r.Err != nil || !strings.Contains(r.Stdout+r.Stderr, cache) {
			t.Errorf("nix store ping --store %s: %v\n%s%s", cache, r.Err, r.Stdout, r.Stderr)
		}
	})
}

// nixCheckNARHeaders checks what a NAR is served with: Nix's content type,
// no Content-Encoding (its compression is in the narinfo), an ETag and a
// Last-Modified, and byte ranges for resuming.
func nixCheckNARHeaders(t testing.TB, key string, h http.Header) {
	t.Helper()
	if _, err := http.ParseTime(h.Get("Last-Modified")); err != nil || h.Get("ETag") == "" {
		t.Errorf("%s: ETag %q Last-Modified %q, want both", key, h.Get("ETag"), h.Get("Last-Modified"))
	}
	if h.Get("Content-Type") != "application/x-nix-nar" || h.Get("Content-Encoding") != "" || h.Get("Accept-Ranges") != "bytes" {
		t.Errorf("%s: Content-Type %q Content-Encoding %q Accept-Ranges %q, want application/x-nix-nar, none, bytes",
			key, h.Get("Content-Type"), h.Get("Content-Encoding"), h.Get("Accept-Ranges"))
	}
}

// nixGenerateKey makes a key pair with nix-store --generate-binary-cache-key
// and returns the two files.
func nixGenerateKey(t testing.TB, name string) (secretFile, publicFile string) {
	t.Helper()
	dir := t.TempDir()
	secretFile, publicFile = filepath.Join(dir, "secret"), filepath.Join(dir, "public")
	nixMust(t, "nix-store", "--generate-binary-cache-key", name, secretFile, publicFile)
	return secretFile, publicFile
}

// nixGetNarinfo GETs the narinfo of path from bucket with the root's netrc
// and checks its status, content type and StorePath.
func nixGetNarinfo(t testing.TB, s *Server, bucket, path string) *narinfo.NarInfo {
	t.Helper()
	url := nixCacheURL(s, bucket) + "/" + nixHashPart(path) + ".narinfo"
	r := nixHTTP(t, nixNetrc(s), http.MethodGet, url)
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "text/x-nix-narinfo" {
		t.Fatalf("GET %s: %d Content-Type %q, want 200 text/x-nix-narinfo\n%s", url, r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	body := []byte(r.Body)
	if r.Header.Get("Content-Encoding") == "gzip" {
		body = nixGunzip(t, body)
	}
	ni := nixParseNarinfo(t, url, body)
	if ni.StorePath != path {
		t.Fatalf("GET %s: StorePath %s, want %s", url, ni.StorePath, path)
	}
	return ni
}

// nixCheckListing checks the .ls listing of path: JSON version 1 whose root
// is the directory make-closure.sh builds.
func nixCheckListing(t testing.TB, s *Server, path string) {
	t.Helper()
	url := nixCacheURL(s, nixCacheBucket) + "/" + nixHashPart(path) + ".ls"
	r := nixHTTP(t, nixNetrc(s), http.MethodGet, url)
	if r.Status != http.StatusOK || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET %s: %d Content-Type %q, want 200 application/json (write-nar-listing=1)\n%.300s", url, r.Status, r.Header.Get("Content-Type"), r.Body)
		return
	}
	var ls struct {
		Version int
		Root    struct {
			Type    string
			Entries map[string]json.RawMessage
		}
	}
	if err := json.Unmarshal([]byte(r.Body), &ls); err != nil {
		t.Errorf("GET %s: %v\n%.300s", url, err, r.Body)
		return
	}
	var names []string
	for n := range ls.Root.Entries {
		names = append(names, n)
	}
	slices.Sort(names)
	if ls.Version != 1 || ls.Root.Type != "directory" || !slices.Equal(names, []string{"bin", "deps", "lib", "share"}) {
		t.Errorf("GET %s: version %d root %s entries %q, want 1 directory [bin deps lib share]", url, ls.Version, ls.Root.Type, names)
	}
}

// nixGunzip decompresses a gzip body.
func nixGunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return out
}

// TestNixCompression pushes with compression=xz and none through Nix (the
// server decodes each NAR and checks its NarHash before signing), and reproduces
// narinfo-compression=gzip|br|zstd|xz (which Nix 2.8 does not know: it warns
// "unknown setting" and uploads plain narinfos) with curl, as newer Nix sends
// it; both closures substitute back with signatures required.
func TestNixCompression(t *testing.T) {
	t.Parallel()
	s := nixStart(t)
	cache := nixCacheURL(s, nixCacheBucket)
	serverKey := nixServerKey(t, s, nixCacheBucket)

	t.Run("xz", func(t *testing.T) {
		c := nixBuildClosure(t, 2, 4, "xz")
		// Level 0 keeps xz fast; the format is the same.
		nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s),
			"--to", cache+"?compression=xz&compression-level=0", c.Top)
		for _, p := range c.Paths {
			ni := nixGetNarinfo(t, s, nixCacheBucket, p)
			if ni.Compression != "xz" || !strings.HasSuffix(ni.URL, ".nar.xz") {
				t.Errorf("%s: Compression %q URL %q, want xz nar/….nar.xz", p, ni.Compression, ni.URL)
			}
			r := nixHTTP(t, nixNetrc(s), http.MethodHead, cache+"/"+ni.URL)
			if r.Status != http.StatusOK {
				t.Errorf("HEAD %s: %d, want 200", ni.URL, r.Status)
			}
			nixCheckNARHeaders(t, ni.URL, r.Header)
		}
		c.delete(t)
		nixMustSubstitute(t, cache, serverKey, nixNetrc(s), c.Top)
		c.checkDumps(t)
	})

	t.Run("none", func(t *testing.T) {
		// The server checks NarHash against the NAR file itself.
		c := nixBuildClosure(t, 2, 4, "plain")
		nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s),
			"--to", cache+"?compression=none", c.Top)
		for _, p := range c.Paths {
			ni := nixGetNarinfo(t, s, nixCacheBucket, p)
			if ni.Compression != "none" || !strings.HasSuffix(ni.URL, ".nar") {
				t.Errorf("%s: Compression %q URL %q, want none nar/….nar", p, ni.Compression, ni.URL)
			}
		}
		c.delete(t)
		nixMustSubstitute(t, cache, serverKey, nixNetrc(s), c.Top)
		c.checkDumps(t)
	})

	t.Run("narinfo-compression", func(t *testing.T) {
		// One path per encoding, references first as Nix uploads them;
		// gzip, br and zstd are served as uploaded, xz is decoded (newer
		// Nix and Lix cannot read it).
		encodings := []struct {
			name, served string
		}{{"gzip", "gzip"}, {"br", "br"}, {"zstd", "zstd"}, {"xz", ""}}
		c := nixBuildClosure(t, len(encodings), 4, "narenc")
		dir := nixFileCache(t, "compression=zstd", c.Top)
		for i, p := range c.Paths {
			enc := encodings[i]
			file := filepath.Join(dir, nixHashPart(p)+".narinfo")
			sent := nixReadNarinfo(t, file)
			nixMustPut(t, nixNetrc(s), cache+"/"+sent.URL, filepath.Join(dir, sent.URL), "application/x-nix-nar")
			encoded := nixEncodeFile(t, file, enc.name)
			nixMustPut(t, nixNetrc(s), cache+"/"+nixHashPart(p)+".narinfo", encoded, "text/x-nix-narinfo", "Content-Encoding: "+enc.name)

			r := nixHTTP(t, nixNetrc(s), http.MethodGet, cache+"/"+nixHashPart(p)+".narinfo")
			if r.Status != http.StatusOK || r.Header.Get("Content-Encoding") != enc.served {
				t.Fatalf("%s: GET %s.narinfo: %d Content-Encoding %q, want 200 %q", enc.name, nixHashPart(p), r.Status, r.Header.Get("Content-Encoding"), enc.served)
			}
			got := nixParseNarinfo(t, p, nixDecode(t, []byte(r.Body), enc.served))
			if !got.Verify(nixPublicKey(t, serverKey)) {
				t.Errorf("%s: the stored narinfo has no valid signature by %s: %q", enc.name, serverKey, got.Sigs)
			}
			got.Sigs, sent.Sigs = nil, nil
			if got.String() != sent.String() {
				t.Errorf("%s: stored narinfo differs from the one sent (besides Sig):\n%s\nwant\n%s", enc.name, got, sent)
			}
		}
		c.delete(t)
		nixMustSubstitute(t, cache, serverKey, nixNetrc(s), c.Top)
		c.checkDumps(t)
	})
}

// nixEncodeFile writes a copy of a file in a Content-Encoding (gzip, br,
// zstd or xz) and returns its name.
func nixEncodeFile(t testing.TB, path, encoding string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var w io.WriteCloser
	switch encoding {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "br":
		w = brotli.NewWriter(&buf)
	case "zstd":
		w, err = zstd.NewWriter(&buf)
	case "xz":
		w, err = xz.NewWriter(&buf)
	default:
		t.Fatalf("no encoder for %q", encoding)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return nixWriteFile(t, filepath.Base(path)+"."+encoding, buf.Bytes())
}

// nixDecode undoes a Content-Encoding the server may serve ("" for none).
func nixDecode(t testing.TB, b []byte, encoding string) []byte {
	t.Helper()
	var r io.Reader
	switch encoding {
	case "":
		return b
	case "gzip":
		return nixGunzip(t, b)
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	default:
		t.Fatalf("no decoder for %q", encoding)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", encoding, err)
	}
	return out
}

// TestNixAccess checks a public bucket (the seed's anonymous-read policy)
// and a private one with real Nix: the public one substitutes without
// credentials, the private one only with a netrc, and anonymous requests
// to it are challenged with 401 and WWW-Authenticate.
func TestNixAccess(t *testing.T) {
	t.Parallel()
	s := nixStart(t)
	const private = "nixe2e-private"
	if r := curlS3(t, s, http.MethodPut, s.Endpoint+"/"+private); r.Status != http.StatusOK {
		t.Fatalf("create bucket %s: %d %s", private, r.Status, r.Body)
	}
	nixAdmin(t, s, "bucket", "key", "generate", private)
	nixAdmin(t, s, "bucket", "policy", "set", nixCacheBucket, "anonymous-read")
	public, privateURL := nixCacheURL(s, nixCacheBucket), nixCacheURL(s, private)
	publicKey, privateKey := nixServerKey(t, s, nixCacheBucket), nixServerKey(t, s, private)

	c := nixBuildClosure(t, 2, 4, "access")
	for _, url := range []string{public, privateURL} {
		nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s),
			"--to", url+"?compression=zstd", c.Top)
	}
	topKey := "/" + nixHashPart(c.Top) + ".narinfo"
	missing := "/" + strings.Repeat("0", 32) + ".narinfo"

	// What Nix sees anonymously, request by request.
	for _, key := range []string{"/nix-cache-info", topKey, missing} {
		r := nixHTTP(t, "", http.MethodGet, privateURL+key)
		if r.Status != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") != `Basic realm="nixbucket"` {
			t.Errorf("anonymous GET %s%s: %d WWW-Authenticate %q, want 401 Basic realm=\"nixbucket\"", private, key, r.Status, r.Header.Get("WWW-Authenticate"))
		}
	}
	if r := nixHTTP(t, "", http.MethodGet, public+topKey); r.Status != http.StatusOK {
		t.Errorf("anonymous GET %s%s: %d, want 200\n%s", nixCacheBucket, topKey, r.Status, r.Body)
	}
	if r := nixHTTP(t, "", http.MethodGet, public+missing); (r.Status != http.StatusForbidden && r.Status != http.StatusNotFound) || r.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("anonymous GET of a missing narinfo in the public %s: %d WWW-Authenticate %q, want 403 or 404 without a challenge (Nix ≥2.35 fails on 401)", nixCacheBucket, r.Status, r.Header.Get("WWW-Authenticate"))
	}
	const immutable = "public, max-age=31536000, immutable"
	nar := nixGetNarinfo(t, s, nixCacheBucket, c.Top).URL
	if r := nixHTTP(t, "", http.MethodHead, public+"/"+nar); r.Status != http.StatusOK || r.Header.Get("Cache-Control") != immutable {
		t.Errorf("anonymous HEAD of a NAR in the public %s: %d Cache-Control %q, want 200 %q", nixCacheBucket, r.Status, r.Header.Get("Cache-Control"), immutable)
	}
	nar = nixGetNarinfo(t, s, private, c.Top).URL
	if r := nixHTTP(t, nixNetrc(s), http.MethodHead, privateURL+"/"+nar); r.Status != http.StatusOK || strings.Contains(r.Header.Get("Cache-Control"), "public") {
		t.Errorf("HEAD of a NAR in the private %s: %d Cache-Control %q, want 200 and not public", private, r.Status, r.Header.Get("Cache-Control"))
	}
	info := nixWriteFile(t, "nix-cache-info", []byte("StoreDir: /nix/store\n"))
	if r := nixPut(t, "", public+"/nix-cache-info", info, "text/x-nix-cache-info"); r.Status != http.StatusForbidden {
		t.Errorf("anonymous PUT to the public %s: %d, want 403\n%s", nixCacheBucket, r.Status, r.Body)
	}

	t.Run("public-anonymous", func(t *testing.T) {
		c.delete(t)
		nixMustSubstitute(t, public, publicKey, nixNoNetrc(t), c.Top)
		c.checkDumps(t)
	})
	t.Run("private-anonymous", func(t *testing.T) {
		c.delete(t)
		// Through a proxy that sees the server's answers: Nix must fail
		// because every request was refused for want of credentials.
		rec := newAnswerRecorder(t, s.Addr)
		via := strings.Replace(privateURL, s.Addr, rec.Addr, 1)
		r := nixSubstitute(t, via, privateKey, nixNoNetrc(t), c.Top)
		if r.Err == nil {
			t.Errorf("nix-store -r from the private bucket without credentials succeeded:\n%s", r.Stderr)
		} else if !strings.Contains(r.Stderr, "does not appear to be a binary cache") {
			t.Errorf("nix-store -r failed, but not because the cache refused it:\n%s", tail(r.Stderr, 2000))
		}
		answers := rec.Answers()
		if len(answers) == 0 {
			t.Fatal("Nix sent no request to the private bucket")
		}
		for _, a := range answers {
			if !strings.Contains(a, " 401 Basic realm=") {
				t.Errorf("anonymous %s: want 401 with a Basic challenge", a)
			}
		}
		nixAbsent(t, c.Paths...)
	})
	t.Run("private-netrc", func(t *testing.T) {
		c.delete(t)
		nixMustSubstitute(t, privateURL, privateKey, nixNetrc(s), c.Top)
		c.checkDumps(t)
	})
}
