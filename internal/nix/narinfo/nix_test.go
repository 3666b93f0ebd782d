package narinfo_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/nix/nixtest"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

// TestAgainstNix has real Nix write a signed cache of the test closure, then
// checks that every narinfo round-trips byte for byte, agrees with
// `nix path-info --json`, and carries exactly the signature our code makes
// with the same nix-generated key.
func TestAgainstNix(t *testing.T) {
	nixtest.Require(t, "nix", "nix-store", "nix-build")
	paths := nixtest.Closure(t)
	secFile, pubFile := nixtest.GenerateKey(t, "nixbucket-test-1")
	secText, _ := os.ReadFile(secFile)
	pubText, _ := os.ReadFile(pubFile)
	sec, err := signature.ParseSecretKey(string(secText))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := signature.ParsePublicKey(string(pubText))
	if err != nil {
		t.Fatal(err)
	}

	var infos []struct {
		Path       string   `json:"path"`
		NarHash    string   `json:"narHash"`
		NarSize    uint64   `json:"narSize"`
		References []string `json:"references"`
		Deriver    string   `json:"deriver"`
	}
	if err := json.Unmarshal(nixtest.Nix(t, append([]string{"path-info", "--json"}, paths...)...), &infos); err != nil {
		t.Fatal(err)
	}

	for _, params := range []string{"compression=zstd&secret-key=" + secFile, "compression=none&secret-key=" + secFile} {
		dir := nixtest.Cache(t, params, paths[len(paths)-1])
		for _, info := range infos {
			hash := strings.TrimPrefix(info.Path, "/nix/store/")[:32]
			data, err := os.ReadFile(filepath.Join(dir, hash+".narinfo"))
			if err != nil {
				t.Fatal(err)
			}
			n, err := narinfo.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Validate(); err != nil {
				t.Errorf("%s: %v", info.Path, err)
			}
			if got := n.String(); got != string(data) {
				t.Errorf("%s: String() =\n%s\nNix wrote\n%s", info.Path, got, data)
			}
			nh, err := nixhash.ParseSHA256(info.NarHash)
			if err != nil {
				t.Fatal(err)
			}
			if n.StorePath != info.Path || n.NarHash != nh.String() || n.NarSize != info.NarSize ||
				n.Deriver != strings.TrimPrefix(info.Deriver, "/nix/store/") {
				t.Errorf("%s: narinfo %+v disagrees with path-info %+v", info.Path, n, info)
			}
			want := "1;" + info.Path + ";" + nh.String() + ";" + jsonNumber(info.NarSize) + ";" + strings.Join(info.References, ",")
			if got := n.Fingerprint(); got != want {
				t.Errorf("Fingerprint() = %s\nwant %s", got, want)
			}
			if len(n.Sigs) != 1 || n.Sigs[0] != sec.Sign(n.Fingerprint()) {
				t.Errorf("%s: Nix signed %q, we sign %q", info.Path, n.Sigs, sec.Sign(n.Fingerprint()))
			}
			if !n.Verify(pub) {
				t.Errorf("%s: Nix's signature does not verify", info.Path)
			}
			if _, err := os.Stat(filepath.Join(dir, n.URL)); err != nil {
				t.Errorf("%s: URL: %v", info.Path, err)
			}
		}
	}
}

func jsonNumber(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
