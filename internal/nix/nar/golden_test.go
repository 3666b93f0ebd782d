package nar_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/nar"
	"github.com/nixbucket/nixbucket/internal/nix/nixtest"
)

var update = flag.Bool("update", false, "rewrite testdata/tree.nar and tree.ls with real Nix")

// treeFile is one file of the test tree.
type treeFile struct {
	path   string // relative; a trailing slash makes a directory
	data   string // contents, or symlink target
	mode   os.FileMode
	link   bool
	isExec bool
}

// testTree exercises what a NAR and a listing must get right: names that
// need JSON escaping (quotes, backslash, control characters, invalid UTF-8,
// "<>&"), byte-order sorting, empty files and directories, executables,
// symlinks, nesting, and padding for every length mod 8.
var testTree = []treeFile{
	{path: "back\\slash", data: "b"},
	{path: "bad\x80\xffutf8", data: "\x80\xff"},
	{path: "ctl\x01\x1f", data: "x"},
	{path: "b\b", data: "a"},
	{path: "f\f", data: "a"},
	{path: "d\x7f", data: "a"},
	{path: "n\nx", data: "a"},
	{path: "r\r", data: "a"},
	{path: "<html>&", data: "<>&"},
	{path: "dirlink", data: "x", link: true},
	{path: "link", data: `target with "q" and ü`, link: true},
	{path: "abs", data: "/nix/store/xpaid9s2kgics391dr37n3ajn9hzxv9b-nixfmt-layer-2/bin/tool", link: true},
	{path: "q\"uote", data: "hi"},
	{path: "sub/empty/"},
	{path: "sub/run", data: "#!/bin/sh\necho hi\n", isExec: true},
	{path: "sub/empty-exec", data: "", isExec: true},
	{path: "tab\tname", data: ""},
	{path: "x/"},
	{path: "ünï€", data: "u"},
	{path: "sort/Z", data: "1"},
	{path: "sort/a", data: "12"},
	{path: "sort/a-b", data: "123"},
	{path: "sort/a.b", data: "1234"},
	{path: "sort/a0", data: "12345"},
	{path: "sort/ab", data: "123456"},
	{path: "sort/b", data: "1234567"},
	{path: "sort/c", data: "12345678"},
	{path: "sort/d", data: "123456789"},
	{path: "deep/a/b/c/d/e/f", data: strings.Repeat("deep ", 1000)},
	{path: "big", data: strings.Repeat("0123456789abcdef", 4096) + "tail"},
}

// makeTree creates testTree in a new directory and returns it.
func makeTree(t testing.TB) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "tree")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range testTree {
		p := filepath.Join(root, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasSuffix(f.path, "/"):
			err = os.MkdirAll(p, 0o755)
		case f.link:
			err = os.Symlink(f.data, p)
		case f.isExec:
			err = os.WriteFile(p, []byte(f.data), 0o755)
		default:
			err = os.WriteFile(p, []byte(f.data), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func dump(t testing.TB, path string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := nar.DumpPath(&buf, path); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestGolden compares DumpPath and List on the test tree with what Nix 2.8
// wrote for the same tree (nix-store --dump; nix copy with
// write-nar-listing=1), kept in testdata. Run with -update (and real Nix)
// to regenerate.
func TestGolden(t *testing.T) {
	root := makeTree(t)
	got := dump(t, root)
	if *update {
		nixtest.Require(t, "nix-store", "nix")
		want := nixtest.Run(t, "nix-store", "--dump", root)
		storePath := strings.TrimSpace(string(nixtest.Run(t, "nix-store", "--add", root)))
		cache := nixtest.Cache(t, "compression=none&write-nar-listing=1", storePath)
		ls, err := os.ReadFile(filepath.Join(cache, strings.TrimPrefix(storePath, "/nix/store/")[:32]+".ls"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/tree.nar", want, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/tree.ls", ls, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/tree.nar")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("DumpPath differs from nix-store --dump: sha256 %s, want %s (first difference at byte %d)",
			sum(got), sum(want), firstDiff(got, want))
	}
	wantLs, err := os.ReadFile("testdata/tree.ls")
	if err != nil {
		t.Fatal(err)
	}
	l, err := nar.List(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	if gotLs := l.JSON(); !bytes.Equal(gotLs, wantLs) {
		t.Fatalf("listing differs from Nix's:\n got %s\nwant %s", gotLs, wantLs)
	}
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
