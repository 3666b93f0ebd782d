package pullthrough

import (
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
)

// FuzzNARKey: the key a pulled NAR is stored under comes from the
// upstream's narinfo (its URL and Compression). For any narinfo that
// passes validation, that key must be one parseNARKey reads back as the
// path's hash, and a plain name under nar/: a client's GET of it finds the
// pulled path again, and no upstream can place a file elsewhere.
func FuzzNARKey(f *testing.F) {
	const fh = "sha256:1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3"
	f.Add("nar/1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3.nar.xz", "xz", fh)
	f.Add("nar/abc.nar", "none", fh)
	f.Add("x/y.nar.zst.tmp/../../z", "zstd", fh)
	f.Add("nar/a.NAR.Z", "lz-4", "sha256:"+"0000000000000000000000000000000000000000000000000000000000000000")
	f.Fuzz(func(t *testing.T, url, compression, fileHash string) {
		const hash = "0c2kb3ix3x6w4a5ijfbaqgzkzdnlyrsh"
		ni := &narinfo.NarInfo{
			StorePath: "/nix/store/" + hash + "-x", URL: url, Compression: compression,
			FileHash: fileHash, FileSize: 1, NarHash: fh, NarSize: 1,
		}
		if ni.Validate() != nil {
			return
		}
		if _, err := nixhash.ParseSHA256(fileHash); err != nil {
			return // the fetcher refuses it first
		}
		key := narKey(hash, ni)
		if got, ok := parseNARKey(key); !ok || got != hash {
			t.Fatalf("URL %q, Compression %q: key %q reads back as %q, %v", url, compression, key, got, ok)
		}
		for i := 4; i < len(key); i++ {
			if c := key[i]; c == '/' || c < ' ' || c >= 0x7f {
				t.Fatalf("URL %q, Compression %q: key %q", url, compression, key)
			}
		}
	})
}
