package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixbase32"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
)

// TestNixBadUploads uploads narinfos the server must refuse over the
// binary-cache protocol, each with 400 and a plain-text message naming the
// wrong field, and checks that nothing was stored or indexed and that the
// cache still serves the good path to Nix.
func TestNixBadUploads(t *testing.T) {
	t.Parallel()
	s := nixStart(t)
	cache := nixCacheURL(s, nixCacheBucket)
	c := nixBuildClosure(t, 1, 4, "bad")
	dir := nixFileCache(t, "compression=zstd", c.Top)
	hash := nixHashPart(c.Top)
	good := nixReadNarinfo(t, filepath.Join(dir, hash+".narinfo"))
	nar, err := os.ReadFile(filepath.Join(dir, good.URL))
	if err != nil {
		t.Fatal(err)
	}
	nixMustPut(t, nixNetrc(s), cache+"/"+good.URL, filepath.Join(dir, good.URL), "application/x-nix-nar")

	// A truncated copy and a same-size corrupted copy of the NAR, each
	// under the name its own bytes give it.
	truncated := nixUploadNAR(t, s, nar[:len(nar)/2])
	corrupt := bytes.Clone(nar)
	corrupt[len(corrupt)/2] ^= 0xff
	corrupted := nixUploadNAR(t, s, corrupt)

	other := nixRandomHash()
	with := func(edit func(n *narinfo.NarInfo)) string {
		n := *good
		edit(&n)
		return n.String()
	}
	truncatedInfo := with(func(n *narinfo.NarInfo) { n.URL = truncated })
	cases := []struct {
		name, key, body, field string
	}{
		{"missing NAR", hash, with(func(n *narinfo.NarInfo) { n.URL = "nar/" + nixRandomSHA256().Nix32() + ".nar.zst" }), "URL"},
		{"truncated NAR", hash, truncatedInfo, "FileSize"},
		{"corrupted NAR", hash, with(func(n *narinfo.NarInfo) { n.URL = corrupted }), "FileHash"},
		{"StorePath/key mismatch", other, good.String(), "StorePath"},
		{"nix-cache-info as a narinfo", hash, "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n", "StorePath"},
		{"not a narinfo", hash, "<html><body>404 Not Found</body></html>\n", "narinfo"},
		{"NarSize missing", hash, with(func(n *narinfo.NarInfo) { n.NarSize = 0 }), "NarSize"},
		// Signed means checked: the server decodes Nix's zstd NAR and
		// compares (these used to be accepted and signed).
		{"wrong NarHash", hash, with(func(n *narinfo.NarInfo) { n.NarHash = nixRandomSHA256().String() }), "NarHash"},
		{"wrong NarSize", hash, with(func(n *narinfo.NarInfo) { n.NarSize++ }), "NarSize"},
	}
	for _, tc := range cases {
		file := nixWriteFile(t, "narinfo", []byte(tc.body))
		url := cache + "/" + tc.key + ".narinfo"
		r := nixPut(t, nixNetrc(s), url, file, "text/x-nix-narinfo")
		if r.Status != http.StatusBadRequest || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") || !strings.Contains(r.Body, tc.field) {
			t.Errorf("%s: PUT %s.narinfo: %d %q %q, want 400 text/plain naming %s", tc.name, tc.key, r.Status, r.Header.Get("Content-Type"), r.Body, tc.field)
		}
		t.Logf("%s: %d %s", tc.name, r.Status, strings.TrimSpace(r.Body))
		if r := nixHTTP(t, nixNetrc(s), http.MethodGet, url); r.Status != http.StatusNotFound {
			t.Errorf("%s: GET %s.narinfo after the refusal: %d, want 404", tc.name, tc.key, r.Status)
		}
	}
	if n := nixCachePaths(t, s, nixCacheBucket); n != 0 {
		t.Errorf("bucket info: %d store paths after refused uploads only, want 0", n)
	}

	// The good narinfo is accepted; a bad overwrite then leaves it alone.
	goodFile := filepath.Join(dir, hash+".narinfo")
	nixMustPut(t, nixNetrc(s), cache+"/"+hash+".narinfo", goodFile, "text/x-nix-narinfo")
	before := nixHTTP(t, nixNetrc(s), http.MethodGet, cache+"/"+hash+".narinfo")
	bad := nixWriteFile(t, "narinfo", []byte(truncatedInfo))
	if r := nixPut(t, nixNetrc(s), cache+"/"+hash+".narinfo", bad, "text/x-nix-narinfo"); r.Status != http.StatusBadRequest {
		t.Errorf("overwrite with a truncated NAR's narinfo: %d, want 400\n%s", r.Status, r.Body)
	}
	after := nixHTTP(t, nixNetrc(s), http.MethodGet, cache+"/"+hash+".narinfo")
	if after.Status != http.StatusOK || after.Body != before.Body || after.Header.Get("ETag") != before.Header.Get("ETag") {
		t.Errorf("narinfo after a refused overwrite: %d ETag %s\n%s\nwant %s\n%s", after.Status, after.Header.Get("ETag"), after.Body, before.Header.Get("ETag"), before.Body)
	}
	if n := nixCachePaths(t, s, nixCacheBucket); n != 1 {
		t.Errorf("bucket info: %d store paths, want 1", n)
	}
	c.delete(t)
	nixMustSubstitute(t, cache, nixServerKey(t, s, nixCacheBucket), nixNetrc(s), c.Top)
	c.checkDumps(t)
}

// nixUploadNAR uploads bytes as nar/<nix32 sha256>.nar.zst and returns
// that key.
func nixUploadNAR(t testing.TB, s *Server, b []byte) string {
	t.Helper()
	sum := sha256.Sum256(b)
	key := "nar/" + nixhash.SHA256(sum).Nix32() + ".nar.zst"
	file := nixWriteFile(t, "nar", b)
	nixMustPut(t, nixNetrc(s), nixCacheURL(s, nixCacheBucket)+"/"+key, file, "application/x-nix-nar")
	return key
}

// nixRandomHash returns a random store path hash (32 Nix base-32 digits).
func nixRandomHash() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return nixbase32.EncodeToString(b[:])
}

// nixRandomSHA256 returns a random SHA-256 digest, for hashes of nothing.
func nixRandomSHA256() nixhash.SHA256 {
	var h nixhash.SHA256
	_, _ = rand.Read(h[:])
	return h
}

// TestNixTampered takes a pushed closure out of the server into a file://
// cache, alters its top narinfo while keeping the server's signature, and
// checks that Nix refuses to substitute it with signatures required, while
// the untouched copy substitutes.
func TestNixTampered(t *testing.T) {
	t.Parallel()
	s := nixStart(t)
	cache := nixCacheURL(s, nixCacheBucket)
	serverKey := nixServerKey(t, s, nixCacheBucket)
	c := nixBuildClosure(t, 2, 4, "tamper")
	nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s),
		"--to", cache+"?compression=zstd", c.Top)

	// Everything Nix reads, fetched as the server serves it.
	src := t.TempDir()
	fetch := func(key string) []byte {
		r := nixHTTP(t, nixNetrc(s), http.MethodGet, cache+"/"+key)
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", key, r.Status, r.Body)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, key)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, key), []byte(r.Body), 0o644); err != nil {
			t.Fatal(err)
		}
		return []byte(r.Body)
	}
	fetch("nix-cache-info")
	for _, p := range c.Paths {
		fetch(nixParseNarinfo(t, p, fetch(nixHashPart(p)+".narinfo")).URL)
	}
	topFile := nixHashPart(c.Top) + ".narinfo"
	signed, err := os.ReadFile(filepath.Join(src, topFile))
	if err != nil {
		t.Fatal(err)
	}
	top := nixParseNarinfo(t, topFile, signed)
	if !top.Verify(nixPublicKey(t, serverKey)) || len(top.References) == 0 {
		t.Fatalf("the served narinfo of %s has no valid signature by %s, or no references:\n%s", c.Top, serverKey, signed)
	}

	tampers := []struct {
		name string
		edit func(n *narinfo.NarInfo)
	}{
		{"References", func(n *narinfo.NarInfo) { n.References = nil }}, // hide a dependency
		{"NarSize", func(n *narinfo.NarInfo) { n.NarSize += 8 }},
		{"NarHash", func(n *narinfo.NarInfo) { n.NarHash = nixRandomSHA256().String() }},
	}
	c.delete(t)
	for _, tc := range tampers {
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
			t.Fatal(err)
		}
		n := *top
		tc.edit(&n)
		text := n.String()
		if text == top.String() || !strings.Contains(text, "\nSig: "+top.Sigs[0]+"\n") {
			t.Fatalf("%s: the tampered narinfo is unchanged or lost the server's Sig:\n%s", tc.name, text)
		}
		if err := os.WriteFile(filepath.Join(dir, topFile), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		r := nixSubstitute(t, "file://"+dir, serverKey, nixNoNetrc(t), c.Top)
		if r.Err == nil {
			t.Errorf("tampered %s: nix-store -r succeeded, want a refusal", tc.name)
		} else if !strings.Contains(r.Stderr, "not signed by any of the keys") {
			t.Errorf("tampered %s: nix-store -r failed, but not for the signature:\n%s", tc.name, tail(r.Stderr, 4000))
		}
		nixAbsent(t, c.Top)
	}
	// The same copy untouched substitutes: the refusals were the tampering.
	nixMustSubstitute(t, "file://"+src, serverKey, nixNoNetrc(t), c.Top)
	c.checkDumps(t)
}
