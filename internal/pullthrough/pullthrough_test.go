package pullthrough

import (
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
)

// TestNARKey: a pulled path's NAR key names its store path (so any server
// finds the narinfo from the key alone), keeps the upstream's extension,
// and parseNARKey refuses every other key.
func TestNARKey(t *testing.T) {
	const hash = "0c2kb3ix3x6w4a5ijfbaqgzkzdnlyrsh"
	const fh = "sha256:1damx7jrips44qwamhf26rvg02ss956q19aykb0bzn0c6wfrrkbw"
	tests := []struct {
		url, compression, want string
	}{
		{"nar/1damx7jrips44qwamhf26rvg02ss956q19aykb0bzn0c6wfrrkbw.nar.xz", "xz", "nar/" + hash + "-1damx7jrips44qwamhf26rvg02ss956q19aykb0bzn0c6wfrrkbw.nar.xz"},
		{"nar/whatever.nar.zst", "zstd", "nar/" + hash + "-1damx7jrips44qwamhf26rvg02ss956q19aykb0bzn0c6wfrrkbw.nar.zst"},
		{"nar/abc.nar", "none", "nar/" + hash + "-1damx7jrips44qwamhf26rvg02ss956q19aykb0bzn0c6wfrrkbw.nar"},
		{"files/odd-name", "zstd", "nar/" + hash + "-1damx7jrips44qwamhf26rvg02ss956q19aykb0bzn0c6wfrrkbw.nar.zst"},
		{"nar/x.nar.X;rm", "bzip2", "nar/" + hash + "-1damx7jrips44qwamhf26rvg02ss956q19aykb0bzn0c6wfrrkbw.nar.bz2"},
	}
	for _, tt := range tests {
		got := narKey(hash, &narinfo.NarInfo{URL: tt.url, Compression: tt.compression, FileHash: fh})
		if got != tt.want {
			t.Errorf("narKey(%s) = %s, want %s", tt.url, got, tt.want)
		}
		if h, ok := parseNARKey(got); !ok || h != hash {
			t.Errorf("parseNARKey(%s) = %q, %v", got, h, ok)
		}
	}
	for _, key := range []string{"", "nar/", "nar/1damx7jrips44qwamhf26rvg02ss956q19aykb0bzn0c6wfrrkbw.nar.xz",
		"nar/" + hash + "-short.nar", "x/" + hash + "-1damx7jrips44qwamhf26rvg02ss956q19aykb0bzn0c6wfrrkbw.nar",
		"nar/" + hash + "_1damx7jrips44qwamhf26rvg02ss956q19aykb0bzn0c6wfrrkbw.nar",
		"nar/" + hash + "-1damx7jrips44qwamhf26rvg02ss956q19aykb0bzn0c6wfrrkbw.tar"} {
		if _, ok := parseNARKey(key); ok {
			t.Errorf("parseNARKey(%q) accepted", key)
		}
	}
}
