package nar_test

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/nar"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/nix/nixtest"
)

// TestDumpMatchesNix dumps real store paths (the test closure, derivations,
// whose NAR is a single file) and ad-hoc trees, comparing with
// `nix-store --dump` byte for byte and, for store paths, with the NarHash
// and NarSize in the Nix database.
func TestDumpMatchesNix(t *testing.T) {
	nixtest.Require(t, "nix-store")
	paths := nixtest.Closure(t)
	top := paths[len(paths)-1]
	deriver := strings.TrimSpace(string(nixtest.Run(t, "nix-store", "-q", "--deriver", top)))
	if _, err := os.Stat(deriver); err == nil {
		paths = append(paths, deriver)
	}
	for _, p := range paths {
		got := dump(t, p)
		if want := nixtest.Run(t, "nix-store", "--dump", p); !bytes.Equal(got, want) {
			t.Errorf("%s: DumpPath differs from nix-store --dump at byte %d", p, firstDiff(got, want))
		}
		dbHash := strings.TrimSpace(string(nixtest.Run(t, "nix-store", "-q", "--hash", p)))
		dbSize := strings.TrimSpace(string(nixtest.Run(t, "nix-store", "-q", "--size", p)))
		if h := nixhash.SHA256(sha256.Sum256(got)); h.String() != dbHash || strconv.Itoa(len(got)) != dbSize {
			t.Errorf("%s: NAR %s, %d bytes; the Nix database says %s, %s bytes", p, h, len(got), dbHash, dbSize)
		}
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("just a file"), 0o755)
	link := filepath.Join(dir, "link")
	os.Symlink("../somewhere", link)
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	for _, p := range []string{file, link, empty, makeTree(t)} {
		if got, want := dump(t, p), nixtest.Run(t, "nix-store", "--dump", p); !bytes.Equal(got, want) {
			t.Errorf("%s: DumpPath differs from nix-store --dump at byte %d", p, firstDiff(got, want))
		}
	}
}

// TestListingMatchesNix has Nix write an uncompressed cache with listings
// and checks that List gives Nix's .ls byte for byte, both from Nix's NAR
// file and from our own dump, and that the NAR files are what we dump.
func TestListingMatchesNix(t *testing.T) {
	nixtest.Require(t, "nix", "nix-store")
	tree := strings.TrimSpace(string(nixtest.Run(t, "nix-store", "--add", makeTree(t))))
	paths := append(nixtest.Closure(t), tree)
	cache := nixtest.Cache(t, "compression=none&write-nar-listing=1", paths...)
	for _, p := range paths {
		hash := strings.TrimPrefix(p, "/nix/store/")[:32]
		ls, err := os.ReadFile(filepath.Join(cache, hash+".ls"))
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(cache, hash+".narinfo"))
		if err != nil {
			t.Fatal(err)
		}
		info, err := narinfo.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		narFile, err := os.ReadFile(filepath.Join(cache, info.URL))
		if err != nil {
			t.Fatal(err)
		}
		ours := dump(t, p)
		if !bytes.Equal(ours, narFile) {
			t.Errorf("%s: Nix's NAR file differs from DumpPath", p)
		}
		if h := nixhash.SHA256(sha256.Sum256(ours)); h.String() != info.NarHash || uint64(len(ours)) != info.NarSize {
			t.Errorf("%s: NarHash %s / NarSize %d, our dump %s / %d", p, info.NarHash, info.NarSize, h, len(ours))
		}
		for _, src := range [][]byte{narFile, ours} {
			l, err := nar.List(bytes.NewReader(src))
			if err != nil {
				t.Fatal(err)
			}
			if got := l.JSON(); !bytes.Equal(got, ls) {
				t.Errorf("%s: listing\n got %s\nwant %s", p, got, ls)
			}
		}
	}
}
