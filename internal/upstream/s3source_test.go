package upstream

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/nixbucket/nixbucket/internal/nix/signature"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestS3Source reads a cache kept in a private bucket of a real S3 store
// (versitygw) through the fetcher: narinfo, NAR, a range, a miss.
func TestS3Source(t *testing.T) {
	st := testenv.S3Store(t)
	bucket := st.NewBucket(t)
	k := newKey(t, "private-1")
	p := makePath(t, hashA, 100<<10, &k)
	for key, body := range map[string][]byte{"cache/" + p.hash + ".narinfo": p.text, "cache/" + p.narPath: p.nar} {
		file := st.ObjectPath(bucket, key)
		os.MkdirAll(filepath.Dir(file), 0o755)
		if err := os.WriteFile(file, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	url := "s3://" + bucket + "/cache?endpoint=" + st.Endpoint + "&region=" + st.Region
	src, err := NewSource(t.Context(), url, SourceOptions{S3: &S3Options{
		Credentials: credentials.NewStaticCredentialsProvider(st.AccessKey, st.SecretKey, ""),
	}})
	if err != nil {
		t.Fatal(err)
	}
	f := New(Config{Sources: []Source{src}, TrustedKeys: []signature.PublicKey{k.Public()}})
	ni, err := f.Narinfo(t.Context(), hashA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Narinfo(t.Context(), "1c2kb3ix3x6w4a5ijfbaqgzkzdnlyrsh"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing narinfo: %v, want ErrNotFound", err)
	}
	d, _, err := f.FetchNAR(t.Context(), NARRequest{Source: ni.Source, Info: ni.Info, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := d.NewReader(t.Context(), 0, -1)
	got, err := io.ReadAll(r)
	r.Close()
	d.Close()
	if err != nil || !bytes.Equal(got, p.nar) {
		t.Fatalf("NAR: %d bytes, %v", len(got), err)
	}
	body, size, err := src.Open(t.Context(), p.narPath, &Range{Offset: 10, Length: 20})
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(body)
	body.Close()
	if size != int64(len(p.nar)) || !bytes.Equal(part, p.nar[10:30]) {
		t.Errorf("range: size %d, %d bytes", size, len(part))
	}
	// Wrong credentials are an error, not a miss.
	bad, err := NewSource(t.Context(), url, SourceOptions{S3: &S3Options{
		Credentials: credentials.NewStaticCredentialsProvider(st.AccessKey, "wrong", ""),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := bad.Open(t.Context(), p.hash+".narinfo", nil); !errors.Is(err, ErrUnavailable) {
		t.Errorf("wrong credentials: %v, want ErrUnavailable", err)
	}
}
