package objects_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nixbucket/nixbucket/internal/checksum"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/storage"
)

// plainBlobs hides the blob store's Adopt, as a store that has none (S3).
type plainBlobs struct{ storage.Backend }

// TestPutPulledFile: a downloaded file becomes an object with the hashes
// Put would give the same bytes but the ETag (PulledETag, from the
// SHA-256), taken as the blob itself where the blob store can adopt it and
// copied (its SHA-256 checked) where it cannot; the caller's CRC-64/NVME
// is taken as given; a failed condition, a wrong SHA-256 or a wrong size
// store nothing.
func TestPutPulledFile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int
		plain bool
		crc   bool // the caller brings the CRC-64/NVME
	}{
		{"adopted", 1 << 20, false, false},
		{"adopted with its CRC", 1 << 20, false, true},
		{"copied", 1 << 20, true, false},
		{"inline", 10, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newService(t)
			if tc.plain {
				s.Blobs = plainBlobs{s.Blobs}
			}
			ctx := context.Background()
			body := make([]byte, tc.size)
			rand.Read(body)
			sum := sha256.Sum256(body)
			ref := put(t, s, "ref", body)
			var crc []byte
			if tc.crc {
				c := checksum.Default.New()
				c.Write(body)
				crc = c.Sum(nil)
			}
			pulled := func(path string, size int64, sha []byte) objects.PulledFile {
				return objects.PulledFile{Path: path, Size: size, SHA256: sha, CRC64NVME: crc}
			}
			file := func() string {
				path := filepath.Join(t.TempDir(), "download")
				if err := os.WriteFile(path, body, 0o600); err != nil {
					t.Fatal(err)
				}
				return path
			}
			h := meta.Headers{ContentType: "application/x-nix-nar"}

			// Wrong SHA-256 (a copy checks it) or wrong size: nothing stored.
			blobs := blobCount(t, s)
			if tc.plain {
				bad := sum
				bad[0] ^= 1
				if _, err := s.PutPulledFile(ctx, bucket, "nar/x", h, pulled(file(), int64(tc.size), bad[:]), objects.Conditions{}); err == nil {
					t.Error("a wrong SHA-256 was stored")
				}
			}
			if _, err := s.PutPulledFile(ctx, bucket, "nar/x", h, pulled(file(), int64(tc.size)+1, sum[:]), objects.Conditions{}); err == nil {
				t.Error("a file of the wrong size was stored")
			}
			if _, _, err := s.Get(ctx, bucket, "nar/x"); !errors.Is(err, meta.ErrNoSuchKey) {
				t.Errorf("after failures: %v", err)
			}
			if n := blobCount(t, s); n != blobs {
				t.Errorf("%d blobs after failures, want %d", n, blobs)
			}

			path := file()
			obj, err := s.PutPulledFile(ctx, bucket, "nar/a", h, pulled(path, int64(tc.size), sum[:]), objects.Conditions{IfNoneMatch: "*"})
			if err != nil {
				t.Fatal(err)
			}
			if want := hex.EncodeToString(sum[:16]) + "-1"; obj.ETag != want || objects.PulledETag(sum[:]) != want {
				t.Errorf("ETag %q, want %q", obj.ETag, want)
			}
			if obj.ETag == ref.ETag || !bytes.Equal(obj.SHA256, sum[:]) || obj.Checksum != ref.Checksum ||
				obj.ChecksumAlgorithm != ref.ChecksumAlgorithm || obj.Size != int64(tc.size) {
				t.Errorf("record %+v, want the hashes of %+v", obj, ref)
			}
			if got := read(t, s, "nar/a"); !bytes.Equal(got, body) {
				t.Errorf("read back %d bytes, want %d", len(got), len(body))
			}
			_, err = os.Stat(path)
			if adopted := tc.size > objects.InlineMax && !tc.plain; adopted != os.IsNotExist(err) {
				t.Errorf("adopted %v, but the file's stat says %v", adopted, err)
			}

			// An object already there stands, and the new blob goes.
			blobs = blobCount(t, s)
			if _, err := s.PutPulledFile(ctx, bucket, "nar/a", h, pulled(file(), int64(tc.size), sum[:]), objects.Conditions{IfNoneMatch: "*"}); !errors.Is(err, meta.ErrPreconditionFailed) {
				t.Errorf("over an existing object: %v, want ErrPreconditionFailed", err)
			}
			if n := blobCount(t, s); n != blobs {
				t.Errorf("%d blobs after a failed condition, want %d", n, blobs)
			}
		})
	}
}
