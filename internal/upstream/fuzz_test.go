package upstream

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
	"github.com/nixbucket/nixbucket/internal/nix/storepath"
)

// oneFile is a Source that serves the same bytes for every key.
type oneFile []byte

func (oneFile) Name() string { return "fuzz" }
func (b oneFile) Open(ctx context.Context, key string, rng *Range) (io.ReadCloser, int64, error) {
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}

// FuzzNarinfo serves any bytes as an upstream's narinfo. The Fetcher
// must not panic, must count whatever it refuses as a miss, and may accept
// only a narinfo of the path asked for, signed by the trusted key (or
// content-addressed as its CA says), with a FileSize, a FileHash and a
// plain relative URL: what a pull-through bucket then serves and stores.
func FuzzNarinfo(f *testing.F) {
	sk, err := signature.ParseSecretKey("upstream-1:" + base64.StdEncoding.EncodeToString(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))))
	if err != nil {
		f.Fatal(err)
	}
	good := narinfo.NarInfo{
		StorePath: "/nix/store/" + hashA + "-fuzz", URL: "nar/1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3.nar.xz", Compression: "xz",
		FileHash: "sha256:1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3", FileSize: 100,
		NarHash: "sha256:1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3", NarSize: 300,
		References: []string{hashA + "-fuzz"},
	}
	good.Sign(sk)
	f.Add([]byte(good.String()))
	bad := good
	bad.URL = "../" + bad.URL
	f.Add([]byte(bad.String()))
	f.Add([]byte(strings.Replace(good.String(), "FileSize: 100", "FileSize: 0", 1)))
	f.Add([]byte("StorePath: /nix/store/" + hashA + "-x\nNarHash: sha256:1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3\nNarSize: 1\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		fe := New(Config{Sources: []Source{oneFile(text)}, TrustedKeys: []signature.PublicKey{sk.Public()}, NegativeTTL: -1,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		ni, err := fe.Narinfo(context.Background(), hashA)
		if err != nil {
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("refused with %v, not a miss", err)
			}
			return
		}
		sp, err := storepath.Parse(ni.Info.StorePath)
		if err != nil || sp.Hash() != hashA {
			t.Fatalf("accepted StorePath %q for %s", ni.Info.StorePath, hashA)
		}
		if ni.Info.FileSize == 0 || ni.Info.FileHash == "" || checkNARURL(ni.Info.URL) != nil || !bytes.Equal(ni.Raw, text) {
			t.Fatalf("accepted %+v", ni.Info)
		}
		if !ni.Info.Verify(sk.Public()) && !(ni.ByCA && ni.Info.CAPathMatches()) {
			t.Fatalf("accepted a narinfo the trusted key did not sign: %q", text)
		}
	})
}
