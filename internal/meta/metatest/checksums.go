package metatest

import (
	"fmt"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// testUploadChecksums checks that what S3's checksums need survives the
// store: an upload's algorithm and type (read back by Upload and
// ScanUploads), each part's checksum, and the object's checksum, COMPOSITE
// ("…-N") or FULL_OBJECT, after CompleteUpload.
func testUploadChecksums(t *testing.T, s meta.Store) {
	ctx := t.Context()
	mustCreateBucket(t, s, "b")
	cases := []struct{ alg, typ, sum string }{
		{"", "", ""},
		{"CRC32", "COMPOSITE", "AAAAAA==-2"},
		{"CRC32C", "FULL_OBJECT", "crUfeA=="},
		{"SHA256", "COMPOSITE", "ZOyIygCyaOW6GjVnihtTFtIS9PNmskdyMlNKiuyjfzw=-2"},
	}
	var want []meta.Upload
	for i, c := range cases {
		u := newUpload("b", fmt.Sprintf("k%d", i), fmt.Sprintf("u%d", i))
		u.ChecksumAlgorithm, u.ChecksumType = c.alg, c.typ
		mustCreateUpload(t, s, u)
		want = append(want, u)
		got, err := s.Upload(ctx, u.Bucket, u.Key, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkUpload(t, got, u)
	}
	ups, err := s.ScanUploads(ctx, meta.ScanQuery{Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) != len(want) {
		t.Fatalf("ScanUploads: %d uploads, want %d", len(ups), len(want))
	}
	for i := range ups {
		checkUpload(t, ups[i], want[i])
	}
	for i, c := range cases {
		u := want[i]
		parts := mustPutParts(t, s, u, 2)
		ps, err := s.Parts(ctx, u.Bucket, u.Key, u.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		checkParts(t, "parts with checksums", ps, parts)
		obj := multipartObject(u, parts...)
		obj.Checksum = c.sum
		if _, err := s.CompleteUpload(ctx, u.ID, obj, nil); err != nil {
			t.Fatal(err)
		}
		got := mustObject(t, s, u.Bucket, u.Key)
		if got.ChecksumAlgorithm != c.alg || got.Checksum != c.sum {
			t.Errorf("object of upload %s: checksum %s %q, want %s %q", u.ID,
				got.ChecksumAlgorithm, got.Checksum, c.alg, c.sum)
		}
	}
}
