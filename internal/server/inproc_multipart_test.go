package server_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"
)

const mib = 1 << 20

// multipartETag is S3's ETag of an object assembled from parts.
func multipartETag(parts ...[]byte) string {
	h := md5.New()
	for _, p := range parts {
		s := md5.Sum(p)
		h.Write(s[:])
	}
	return `"` + hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts)) + `"`
}

// upload is a multipart upload in progress, driven by the SDK.
type upload struct {
	e           *env
	t           *testing.T
	bucket, key string
	id          string
}

func (e *env) createUpload(t *testing.T, bucket, key string, opts ...func(*s3.CreateMultipartUploadInput)) *upload {
	t.Helper()
	in := &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key}
	for _, f := range opts {
		f(in)
	}
	out, err := e.s3.CreateMultipartUpload(ctx(t), in)
	if err != nil {
		t.Fatalf("CreateMultipartUpload %q: %v", key, err)
	}
	if aws.ToString(out.Bucket) != bucket || aws.ToString(out.Key) != key || aws.ToString(out.UploadId) == "" {
		t.Fatalf("InitiateMultipartUploadResult %q %q %q", aws.ToString(out.Bucket), aws.ToString(out.Key), aws.ToString(out.UploadId))
	}
	return &upload{e: e, t: t, bucket: bucket, key: key, id: aws.ToString(out.UploadId)}
}

func (u *upload) partErr(n int32, body []byte, opts ...func(*s3.UploadPartInput)) (*s3.UploadPartOutput, error) {
	in := &s3.UploadPartInput{Bucket: &u.bucket, Key: &u.key, UploadId: &u.id, PartNumber: aws.Int32(n), Body: bytes.NewReader(body)}
	for _, f := range opts {
		f(in)
	}
	return u.e.s3.UploadPart(ctx(u.t), in)
}

func (u *upload) part(n int32, body []byte) string {
	u.t.Helper()
	out, err := u.partErr(n, body)
	if err != nil {
		u.t.Fatalf("UploadPart %d: %v", n, err)
	}
	if want := `"` + md5hex(body) + `"`; aws.ToString(out.ETag) != want {
		u.t.Errorf("UploadPart %d ETag %s, want %s", n, aws.ToString(out.ETag), want)
	}
	return aws.ToString(out.ETag)
}

func (u *upload) complete(parts ...types.CompletedPart) (*s3.CompleteMultipartUploadOutput, error) {
	return u.e.s3.CompleteMultipartUpload(ctx(u.t), &s3.CompleteMultipartUploadInput{
		Bucket: &u.bucket, Key: &u.key, UploadId: &u.id, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
}

func cp(n int32, etag string) types.CompletedPart {
	return types.CompletedPart{PartNumber: aws.Int32(n), ETag: aws.String(etag)}
}

func TestMultipartUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("mpu")
	c := ctx(t)
	key := "nar/big object.nar"
	u := e.createUpload(t, b, key, func(in *s3.CreateMultipartUploadInput) {
		in.ContentType = aws.String("application/x-nix-nar")
		in.Metadata = map[string]string{"from": "multipart"}
	})
	p1, p2, p3 := data(10, 5*mib), data(11, 5*mib), data(12, mib+123)
	e1, e2, e3 := u.part(1, p1), u.part(2, p2), u.part(3, p3)

	// ListParts, one part per page.
	var nums []int32
	var sizes []int64
	var marker *string
	for pages := 1; ; pages++ {
		out, err := e.s3.ListParts(c, &s3.ListPartsInput{Bucket: &b, Key: &key, UploadId: &u.id, MaxParts: aws.Int32(1), PartNumberMarker: marker})
		if err != nil {
			t.Fatalf("ListParts: %v", err)
		}
		for _, p := range out.Parts {
			nums = append(nums, aws.ToInt32(p.PartNumber))
			sizes = append(sizes, aws.ToInt64(p.Size))
			if want := []string{e1, e2, e3}[aws.ToInt32(p.PartNumber)-1]; aws.ToString(p.ETag) != want {
				t.Errorf("part %d ETag %s, want %s", aws.ToInt32(p.PartNumber), aws.ToString(p.ETag), want)
			}
		}
		if aws.ToString(out.UploadId) != u.id || aws.ToString(out.Key) != key || aws.ToInt32(out.MaxParts) != 1 {
			t.Errorf("ListParts result: upload %q key %q max %d", aws.ToString(out.UploadId), aws.ToString(out.Key), aws.ToInt32(out.MaxParts))
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		marker = out.NextPartNumberMarker
		if pages > 5 {
			t.Fatalf("ListParts does not end")
		}
	}
	if !slices.Equal(nums, []int32{1, 2, 3}) || !slices.Equal(sizes, []int64{5 * mib, 5 * mib, mib + 123}) {
		t.Errorf("ListParts numbers %v sizes %v", nums, sizes)
	}
	// S3 returns at most 1,000 parts a page and says so in MaxParts.
	if out, err := e.s3.ListParts(c, &s3.ListPartsInput{Bucket: &b, Key: &key, UploadId: &u.id, MaxParts: aws.Int32(5000)}); err != nil {
		t.Errorf("ListParts MaxParts 5000: %v", err)
	} else if aws.ToInt32(out.MaxParts) != 1000 || len(out.Parts) != 3 {
		t.Errorf("ListParts MaxParts 5000: MaxParts %d, %d parts, want 1000 and 3", aws.ToInt32(out.MaxParts), len(out.Parts))
	}

	// ListMultipartUploads shows it.
	lu, err := e.s3.ListMultipartUploads(c, &s3.ListMultipartUploadsInput{Bucket: &b})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	if len(lu.Uploads) != 1 || aws.ToString(lu.Uploads[0].Key) != key || aws.ToString(lu.Uploads[0].UploadId) != u.id || lu.Uploads[0].Initiated == nil {
		t.Errorf("ListMultipartUploads = %+v", lu.Uploads)
	}

	// Refused completions leave the upload usable.
	_, err = u.complete(cp(1, e1), cp(2, `"00000000000000000000000000000000"`), cp(3, e3))
	wantCode(t, err, "InvalidPart", http.StatusBadRequest)
	_, err = u.complete(cp(2, e2), cp(1, e1), cp(3, e3))
	wantCode(t, err, "InvalidPartOrder", http.StatusBadRequest)
	_, err = u.complete(cp(1, e1), cp(1, e1), cp(3, e3))
	wantCode(t, err, "InvalidPartOrder", http.StatusBadRequest)
	_, err = u.complete(cp(1, e1), cp(2, e2), cp(4, e3))
	wantCode(t, err, "InvalidPart", http.StatusBadRequest)
	_, err = u.complete()
	if status(err) != http.StatusBadRequest {
		t.Errorf("completing with no parts: %v, want a 400", err)
	}
	e.absent(b, key)

	out, err := u.complete(cp(1, e1), cp(2, e2), cp(3, e3))
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	wantETag := multipartETag(p1, p2, p3)
	if aws.ToString(out.ETag) != wantETag || aws.ToString(out.Key) != key || aws.ToString(out.Bucket) != b {
		t.Errorf("CompleteMultipartUploadResult ETag %s key %q bucket %q, want ETag %s", aws.ToString(out.ETag), aws.ToString(out.Key), aws.ToString(out.Bucket), wantETag)
	}
	whole := slices.Concat(p1, p2, p3)
	if got := e.get(b, key); !bytes.Equal(got, whole) {
		t.Fatalf("completed object differs: %d bytes, want %d", len(got), len(whole))
	}
	h, err := e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: &b, Key: &key})
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	if aws.ToString(h.ETag) != wantETag || aws.ToInt64(h.ContentLength) != int64(len(whole)) ||
		aws.ToString(h.ContentType) != "application/x-nix-nar" || h.Metadata["from"] != "multipart" {
		t.Errorf("HeadObject: ETag %s length %d type %q meta %v", aws.ToString(h.ETag), aws.ToInt64(h.ContentLength), aws.ToString(h.ContentType), h.Metadata)
	}
	// Ranges within and across parts.
	for _, r := range [][2]int{{5*mib - 10, 5*mib + 9}, {0, 0}, {10*mib - 1, 10*mib + 5}, {len(whole) - 7, len(whole) - 1}} {
		g, err := e.s3.GetObject(c, &s3.GetObjectInput{Bucket: &b, Key: &key, Range: aws.String(fmt.Sprintf("bytes=%d-%d", r[0], r[1]))})
		if err != nil {
			t.Fatalf("GetObject range %v: %v", r, err)
		}
		got, _ := io.ReadAll(g.Body)
		g.Body.Close()
		if !bytes.Equal(got, whole[r[0]:r[1]+1]) {
			t.Errorf("range %d-%d differs", r[0], r[1])
		}
	}
	// The upload is gone.
	_, err = e.s3.ListParts(c, &s3.ListPartsInput{Bucket: &b, Key: &key, UploadId: &u.id})
	wantCode(t, err, "NoSuchUpload", http.StatusNotFound)
	lu, err = e.s3.ListMultipartUploads(c, &s3.ListMultipartUploadsInput{Bucket: &b})
	if err != nil || len(lu.Uploads) != 0 {
		t.Errorf("after completion ListMultipartUploads = %+v, %v", lu, err)
	}
	// Completing it again with the same parts answers as the first
	// completion did, as AWS does for the retries of Nix and the SDKs
	// (more in TestCompleteTwice).
	again, err := u.complete(cp(1, e1), cp(2, e2), cp(3, e3))
	if err != nil || aws.ToString(again.ETag) != aws.ToString(out.ETag) {
		t.Errorf("repeated complete: %v, ETag %s, want %s", err, aws.ToString(again.ETag), aws.ToString(out.ETag))
	}
}

func TestMultipartErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("mpuerr")
	c := ctx(t)
	small1, small2 := data(20, mib), data(21, mib)

	t.Run("EntityTooSmall", func(t *testing.T) {
		u := e.createUpload(t, b, "small")
		e1, e2 := u.part(1, small1), u.part(2, small2)
		_, err := u.complete(cp(1, e1), cp(2, e2))
		wantCode(t, err, "EntityTooSmall", http.StatusBadRequest)
		// A single small part is the last part, and allowed.
		if _, err := u.complete(cp(1, e1)); err != nil {
			t.Fatalf("completing one small part: %v", err)
		}
		if got := e.get(b, "small"); !bytes.Equal(got, small1) {
			t.Errorf("object differs from its one part")
		}
	})

	t.Run("Abort", func(t *testing.T) {
		u := e.createUpload(t, b, "aborted")
		e1 := u.part(1, small1)
		r := e.request(http.MethodDelete, e.url(b, "aborted")+"?uploadId="+u.id, nil)
		e.signBody(r, nil)
		if st, _, body := e.do(r); st != http.StatusNoContent {
			t.Fatalf("AbortMultipartUpload: %d %s, want 204", st, body)
		}
		_, err := u.partErr(2, small2)
		wantCode(t, err, "NoSuchUpload", http.StatusNotFound)
		_, err = e.s3.ListParts(c, &s3.ListPartsInput{Bucket: &b, Key: aws.String("aborted"), UploadId: &u.id})
		wantCode(t, err, "NoSuchUpload", http.StatusNotFound)
		_, err = u.complete(cp(1, e1))
		wantCode(t, err, "NoSuchUpload", http.StatusNotFound)
		_, err = e.s3.AbortMultipartUpload(c, &s3.AbortMultipartUploadInput{Bucket: &b, Key: aws.String("aborted"), UploadId: &u.id})
		wantCode(t, err, "NoSuchUpload", http.StatusNotFound)
		e.absent(b, "aborted")
	})

	t.Run("UnknownUpload", func(t *testing.T) {
		u := &upload{e: e, t: t, bucket: b, key: "k", id: "0123456789abcdef0123456789abcdef"}
		_, err := u.partErr(1, small1)
		wantCode(t, err, "NoSuchUpload", http.StatusNotFound)
		// An upload id is bound to its key.
		real := e.createUpload(t, b, "real")
		u.id = real.id
		_, err = u.partErr(1, small1)
		wantCode(t, err, "NoSuchUpload", http.StatusNotFound)
		_, err = e.s3.AbortMultipartUpload(c, &s3.AbortMultipartUploadInput{Bucket: &b, Key: aws.String("other"), UploadId: &real.id})
		wantCode(t, err, "NoSuchUpload", http.StatusNotFound)
	})

	t.Run("PartNumbers", func(t *testing.T) {
		u := e.createUpload(t, b, "numbers")
		for _, n := range []int32{0, 10001, -1} {
			_, err := u.partErr(n, small1)
			wantCode(t, err, "InvalidArgument", http.StatusBadRequest)
		}
		if _, err := u.partErr(10000, small1); err != nil {
			t.Errorf("part 10000: %v", err)
		}
	})

	t.Run("ReplacePart", func(t *testing.T) {
		u := e.createUpload(t, b, "replaced")
		old := u.part(1, small1)
		newer := u.part(1, small2)
		lp, err := e.s3.ListParts(c, &s3.ListPartsInput{Bucket: &b, Key: aws.String("replaced"), UploadId: &u.id})
		if err != nil || len(lp.Parts) != 1 || aws.ToString(lp.Parts[0].ETag) != newer {
			t.Fatalf("ListParts after replacing part 1: %+v, %v", lp, err)
		}
		_, err = u.complete(cp(1, old))
		wantCode(t, err, "InvalidPart", http.StatusBadRequest)
		if _, err := u.complete(cp(1, newer)); err != nil {
			t.Fatalf("Complete: %v", err)
		}
		if got := e.get(b, "replaced"); !bytes.Equal(got, small2) {
			t.Errorf("object is not the replacing part")
		}
	})

	t.Run("ListMultipartUploads", func(t *testing.T) {
		b := e.bucket("uploads")
		want := map[string]bool{}
		for _, k := range []string{"u/a", "u/a", "u/a", "u/b", "u/b", "v/c", "w"} {
			want[k+" "+e.createUpload(t, b, k).id] = true
		}
		got := map[string]bool{}
		in := &s3.ListMultipartUploadsInput{Bucket: &b, MaxUploads: aws.Int32(2)}
		for pages := 1; ; pages++ {
			out, err := e.s3.ListMultipartUploads(c, in)
			if err != nil {
				t.Fatalf("ListMultipartUploads: %v", err)
			}
			if len(out.Uploads) > 2 {
				t.Errorf("page of %d uploads with MaxUploads 2", len(out.Uploads))
			}
			for _, up := range out.Uploads {
				id := aws.ToString(up.Key) + " " + aws.ToString(up.UploadId)
				if got[id] {
					t.Errorf("upload %s listed twice", id)
				}
				got[id] = true
			}
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
			if pages > 10 {
				t.Fatalf("ListMultipartUploads does not end")
			}
		}
		if len(got) != len(want) {
			t.Errorf("paged uploads %v, want %v", got, want)
		}
		out, err := e.s3.ListMultipartUploads(c, &s3.ListMultipartUploadsInput{Bucket: &b, Delimiter: aws.String("/")})
		if err != nil {
			t.Fatal(err)
		}
		var cps []string
		for _, p := range out.CommonPrefixes {
			cps = append(cps, aws.ToString(p.Prefix))
		}
		if !slices.Equal(cps, []string{"u/", "v/"}) || len(out.Uploads) != 1 || aws.ToString(out.Uploads[0].Key) != "w" {
			t.Errorf("delimiter /: prefixes %q uploads %d", cps, len(out.Uploads))
		}
		out, err = e.s3.ListMultipartUploads(c, &s3.ListMultipartUploadsInput{Bucket: &b, Prefix: aws.String("u/b")})
		if err != nil || len(out.Uploads) != 2 {
			t.Errorf("prefix u/b: %d uploads, %v", len(out.Uploads), err)
		}
	})
}

// TestMultipartChecksums checks that ListParts reports each part's checksum
// for every algorithm the upload was created with.
func TestMultipartChecksums(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("mpucrc")
	body := data(30, 1000)
	for _, alg := range checksumAlgorithms {
		t.Run(string(alg), func(t *testing.T) {
			key := "crc-" + string(alg)
			u := e.createUpload(t, b, key, func(in *s3.CreateMultipartUploadInput) { in.ChecksumAlgorithm = alg })
			out, err := u.partErr(1, body, func(in *s3.UploadPartInput) { in.ChecksumAlgorithm = alg })
			if err != nil {
				t.Fatalf("UploadPart: %v", err)
			}
			want := checksumOf(alg, body)
			if got := partChecksum(alg, out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME, out.ChecksumSHA1, out.ChecksumSHA256); got != want {
				t.Errorf("UploadPart x-amz-checksum-%s %q, want %q", strings.ToLower(string(alg)), got, want)
			}
			lp, err := e.s3.ListParts(ctx(t), &s3.ListPartsInput{Bucket: &b, Key: &key, UploadId: &u.id})
			if err != nil || len(lp.Parts) != 1 {
				t.Fatalf("ListParts: %+v, %v", lp, err)
			}
			p := lp.Parts[0]
			if got := partChecksum(alg, p.ChecksumCRC32, p.ChecksumCRC32C, p.ChecksumCRC64NVME, p.ChecksumSHA1, p.ChecksumSHA256); got != want {
				t.Errorf("ListParts Checksum%s %q, want %q", alg, got, want)
			}
			if lp.ChecksumAlgorithm != alg {
				t.Errorf("ListParts ChecksumAlgorithm %q", lp.ChecksumAlgorithm)
			}
			// A part whose checksum header is wrong is refused.
			_, err = u.partErr(2, body, func(in *s3.UploadPartInput) { setChecksum(in, alg, checksumOf(alg, []byte("other"))) })
			wantCode(t, err, "BadDigest", http.StatusBadRequest)
		})
	}
}

func partChecksum(alg types.ChecksumAlgorithm, crc32, crc32c, crc64, sha1, sha256 *string) string {
	return aws.ToString(map[types.ChecksumAlgorithm]*string{
		types.ChecksumAlgorithmCrc32: crc32, types.ChecksumAlgorithmCrc32c: crc32c, types.ChecksumAlgorithmCrc64nvme: crc64,
		types.ChecksumAlgorithmSha1: sha1, types.ChecksumAlgorithmSha256: sha256,
	}[alg])
}

func setChecksum(in *s3.UploadPartInput, alg types.ChecksumAlgorithm, v string) {
	switch alg {
	case types.ChecksumAlgorithmCrc32:
		in.ChecksumCRC32 = &v
	case types.ChecksumAlgorithmCrc32c:
		in.ChecksumCRC32C = &v
	case types.ChecksumAlgorithmCrc64nvme:
		in.ChecksumCRC64NVME = &v
	case types.ChecksumAlgorithmSha1:
		in.ChecksumSHA1 = &v
	case types.ChecksumAlgorithmSha256:
		in.ChecksumSHA256 = &v
	}
}

// TestGetPartNumber reads a multipart object part by part, as the SDK's
// transfer manager downloads by default (GetObject ?partNumber=N): each
// answer is 206 with that part's bytes and x-amz-mp-parts-count.
func TestGetPartNumber(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("partnum")
	u := e.createUpload(t, b, "k")
	p1, p2 := data(46, 5*mib), data(47, 1000)
	e1, e2 := u.part(1, p1), u.part(2, p2)
	if _, err := u.complete(cp(1, e1), cp(2, e2)); err != nil {
		t.Fatal(err)
	}
	total := len(p1) + len(p2)
	for i, want := range [][]byte{p1, p2} {
		n := int32(i + 1)
		out, err := e.s3.GetObject(ctx(t), &s3.GetObjectInput{Bucket: &b, Key: aws.String("k"), PartNumber: aws.Int32(n)})
		if err != nil {
			t.Fatalf("GetObject partNumber=%d: %v", n, err)
		}
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		start := i * len(p1)
		wantCR := fmt.Sprintf("bytes %d-%d/%d", start, start+len(want)-1, total)
		if !bytes.Equal(got, want) || aws.ToString(out.ContentRange) != wantCR || aws.ToInt32(out.PartsCount) != 2 {
			t.Errorf("GetObject partNumber=%d: %d bytes, Content-Range %q, parts count %d; want part %d (%d bytes), %q, 2",
				n, len(got), aws.ToString(out.ContentRange), aws.ToInt32(out.PartsCount), n, len(want), wantCR)
		}
		h, err := e.s3.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: &b, Key: aws.String("k"), PartNumber: aws.Int32(n)})
		if err != nil || aws.ToInt64(h.ContentLength) != int64(len(want)) || aws.ToInt32(h.PartsCount) != 2 {
			t.Errorf("HeadObject partNumber=%d: length %d, parts count %d (%v); want %d, 2", n, aws.ToInt64(h.ContentLength), aws.ToInt32(h.PartsCount), err, len(want))
		}
	}
	_, err := e.s3.GetObject(ctx(t), &s3.GetObjectInput{Bucket: &b, Key: aws.String("k"), PartNumber: aws.Int32(3)})
	wantCode(t, err, "InvalidPartNumber", http.StatusRequestedRangeNotSatisfiable)
}

// TestMultipartSDKConcurrent does what the SDK's transfer managers do (the
// module is not a dependency): a CRC32 upload of 40 MiB in 5 MiB parts sent
// four at a time, completed with each part's checksum.
func TestMultipartSDKConcurrent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("mpusdk")
	body := data(45, 40*mib+1)
	u := e.createUpload(t, b, "tm", func(in *s3.CreateMultipartUploadInput) {
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32
	})
	var parts [][]byte
	for off := 0; off < len(body); off += 5 * mib {
		parts = append(parts, body[off:min(off+5*mib, len(body))])
	}
	done := make([]types.CompletedPart, len(parts))
	var g errgroup.Group
	g.SetLimit(4)
	for i, p := range parts {
		g.Go(func() error {
			n := int32(i + 1)
			out, err := u.partErr(n, p, func(in *s3.UploadPartInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32 })
			if err != nil {
				return fmt.Errorf("part %d: %w", n, err)
			}
			if got, want := aws.ToString(out.ChecksumCRC32), checksumOf(types.ChecksumAlgorithmCrc32, p); got != want {
				return fmt.Errorf("part %d checksum %q, want %q", n, got, want)
			}
			done[i] = types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	out, err := u.complete(done...)
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
	if aws.ToString(out.ETag) != multipartETag(parts...) {
		t.Errorf("ETag %s, want %s", aws.ToString(out.ETag), multipartETag(parts...))
	}
	if got := e.get(b, "tm"); !bytes.Equal(got, body) {
		t.Fatalf("object differs: %d bytes", len(got))
	}
}

// TestMultipartMinio uploads 40 MiB with minio-go's concurrent multipart
// uploader (its transfer manager) and 12 MiB of unknown length.
func TestMultipartMinio(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("mpuminio")
	c := ctx(t)
	body := data(40, 40*mib+7)
	mark := e.rec.mark()
	info, err := e.mc.PutObject(c, b, "forty", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{PartSize: 5 * mib, NumThreads: 4, ContentType: "application/x-nix-nar"})
	if err != nil {
		t.Fatalf("minio PutObject 40 MiB: %v", err)
	}
	if !strings.HasSuffix(info.ETag, "-9") {
		t.Errorf("ETag %q, want a 9-part multipart ETag", info.ETag)
	}
	parts := make([][]byte, 0, 9)
	for off := 0; off < len(body); off += 5 * mib {
		parts = append(parts, body[off:min(off+5*mib, len(body))])
	}
	if `"`+info.ETag+`"` != multipartETag(parts...) {
		t.Errorf("ETag %q, want %s", info.ETag, multipartETag(parts...))
	}
	if got := e.get(b, "forty"); !bytes.Equal(got, body) {
		t.Fatalf("40 MiB object differs")
	}
	for _, m := range e.rec.modes(mark) {
		if m != "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" {
			t.Errorf("minio-go part sent with %q, want chunk signatures", m)
		}
	}

	body = data(41, 12*mib)
	if _, err := e.mc.PutObject(c, b, "unknown-length", io.MultiReader(bytes.NewReader(body)), -1, minio.PutObjectOptions{PartSize: 5 * mib}); err != nil {
		t.Fatalf("minio PutObject of unknown length: %v", err)
	}
	o, err := e.mc.GetObject(c, b, "unknown-length", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(o)
	o.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Errorf("unknown-length object differs (%d bytes, %v)", len(got), err)
	}
	st, err := e.mc.StatObject(c, b, "unknown-length", minio.StatObjectOptions{})
	if err != nil || !strings.HasSuffix(st.ETag, "-3") {
		t.Errorf("unknown-length ETag %q, %v; want 3 parts", st.ETag, err)
	}
}
