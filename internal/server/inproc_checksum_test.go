package server_test

// Checksums as current SDKs send and expect them: aws-sdk-go-v2 at its
// defaults (RequestChecksumCalculation and ResponseChecksumValidation
// WhenSupported, as config.LoadDefaultConfig gives them) sends a CRC32 with
// every upload and asks for (then checks) the stored checksum on every GET.
// Every expected value is computed here, independently of the server, so a
// missing or wrong checksum fails.

import (
	"bytes"
	"crypto/md5"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/cespare/xxhash/v2"
	"golang.org/x/sync/errgroup"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// sumFields is the Checksum* fields of an SDK output.
type sumFields struct {
	crc32, crc32c, crc64, sha1, sha256, sha512 *string
	typ                                        types.ChecksumType
}

// get returns the value for alg, and fails the test if any other
// algorithm's field is set too.
func (f sumFields) get(t *testing.T, what string, alg types.ChecksumAlgorithm) string {
	t.Helper()
	all := map[types.ChecksumAlgorithm]*string{
		types.ChecksumAlgorithmCrc32: f.crc32, types.ChecksumAlgorithmCrc32c: f.crc32c, types.ChecksumAlgorithmCrc64nvme: f.crc64,
		types.ChecksumAlgorithmSha1: f.sha1, types.ChecksumAlgorithmSha256: f.sha256, types.ChecksumAlgorithmSha512: f.sha512,
	}
	for a, v := range all {
		if a != alg && aws.ToString(v) != "" {
			t.Errorf("%s: unexpected %s checksum %q", what, a, aws.ToString(v))
		}
	}
	return aws.ToString(all[alg])
}

// wantSum fails unless f holds exactly want for alg, of type typ.
func wantSum(t *testing.T, what string, f sumFields, alg types.ChecksumAlgorithm, want string, typ types.ChecksumType) {
	t.Helper()
	if got := f.get(t, what, alg); got != want || f.typ != typ {
		t.Errorf("%s: %s checksum %q type %q, want %q %q", what, alg, got, f.typ, want, typ)
	}
}

// compositeOf is S3's COMPOSITE checksum of parts: alg over the parts'
// binary checksums, then "-N".
func compositeOf(alg types.ChecksumAlgorithm, parts [][]byte) string {
	var sums []byte
	for _, p := range parts {
		b, _ := base64.StdEncoding.DecodeString(checksumOf(alg, p))
		sums = append(sums, b...)
	}
	return fmt.Sprintf("%s-%d", checksumOf(alg, sums), len(parts))
}

// checkStored reads key back as SDK users do: HEAD with ChecksumMode
// ENABLED, then GET at the defaults, which ask for the checksum and
// validate the body against it (the recorder shows the request asked).
func checkStored(t *testing.T, e *env, b, key string, body []byte, alg types.ChecksumAlgorithm, want string, typ types.ChecksumType) {
	t.Helper()
	h, err := e.s3.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: &b, Key: &key, ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatalf("HeadObject %s: %v", key, err)
	}
	wantSum(t, "HeadObject "+key, sumFields{h.ChecksumCRC32, h.ChecksumCRC32C, h.ChecksumCRC64NVME, h.ChecksumSHA1, h.ChecksumSHA256, h.ChecksumSHA512, h.ChecksumType}, alg, want, typ)
	mark := e.rec.mark()
	g, err := e.s3.GetObject(ctx(t), &s3.GetObjectInput{Bucket: &b, Key: &key})
	if err != nil {
		t.Fatalf("GetObject %s: %v", key, err)
	}
	got, err := io.ReadAll(g.Body) // the SDK's validation fails this read
	g.Body.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("GetObject %s: %d bytes, %v", key, len(got), err)
	}
	if x := recorded(e, mark, 1); len(x) != 1 || !slices.Contains(x[0].Checksums, "x-amz-checksum-mode") {
		t.Errorf("GetObject %s at the SDK's defaults did not ask for the checksum: %+v", key, x)
	}
	wantSum(t, "GetObject "+key, sumFields{g.ChecksumCRC32, g.ChecksumCRC32C, g.ChecksumCRC64NVME, g.ChecksumSHA1, g.ChecksumSHA256, g.ChecksumSHA512, g.ChecksumType}, alg, want, typ)
}

// recorded waits for n exchanges after mark: the recorder notes one when
// the handler returns, which may be after the client read the whole body.
func recorded(e *env, mark, n int) []exchange {
	deadline := time.Now().Add(5 * time.Second)
	for {
		x := e.rec.since(mark)
		if len(x) >= n || time.Now().After(deadline) {
			return x
		}
		time.Sleep(time.Millisecond)
	}
}

// TestChecksumDefaults runs the SDK's default uploads and downloads
// against each metadata store, and reads the checksums again after a
// restart: they are stored, not recomputed.
func TestChecksumDefaults(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		testChecksumDefaults(t, newEnv(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		testChecksumDefaults(t, newEnv(t, withMeta(testenv.Postgres(t))))
	})
}

func testChecksumDefaults(t *testing.T, e *env) {
	b := e.bucket("sums")
	crc32, crc64 := types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc64nvme
	full, composite := types.ChecksumTypeFullObject, types.ChecksumTypeComposite
	type stored struct {
		key  string
		body []byte
		alg  types.ChecksumAlgorithm
		want string
		typ  types.ChecksumType
	}
	var all []stored

	// A single PUT at the defaults: the SDK sends a CRC32, which is
	// checked, kept and returned.
	single := data(70, 300<<10+3)
	mark := e.rec.mark()
	out, err := e.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &b, Key: aws.String("single"), Body: bytes.NewReader(single)})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	if x := e.rec.since(mark)[0]; !slices.Contains(x.Checksums, "x-amz-checksum-crc32") && x.Trailer != "x-amz-checksum-crc32" {
		t.Errorf("the SDK sent no CRC32 at its defaults: headers %v, trailer %q", x.Checksums, x.Trailer)
	}
	wantSum(t, "PutObject", sumFields{out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME, out.ChecksumSHA1, out.ChecksumSHA256, out.ChecksumSHA512, out.ChecksumType},
		crc32, checksumOf(crc32, single), full)
	all = append(all, stored{"single", single, crc32, checksumOf(crc32, single), full})

	// A PUT that names no checksum (curl, Nix) gets S3's default
	// CRC64NVME.
	plain := data(71, 70<<10)
	r := e.request(http.MethodPut, e.url(b, "plain"), plain)
	e.signBody(r, plain)
	status, h, body := e.do(r)
	if status != http.StatusOK {
		t.Fatalf("plain PUT: %d %s", status, body)
	}
	if got, want := h.Get("x-amz-checksum-crc64nvme"), checksumOf(crc64, plain); got != want || h.Get("x-amz-checksum-type") != "FULL_OBJECT" {
		t.Errorf("plain PUT answered CRC64NVME %q type %q, want %q FULL_OBJECT", got, h.Get("x-amz-checksum-type"), want)
	}
	all = append(all, stored{"plain", plain, crc64, checksumOf(crc64, plain), full})

	// Multipart uploads with parts sent four at a time, as the SDKs'
	// transfer managers do: they name the algorithm on Create and on each
	// part, and complete with each part's checksum.
	parts := [][]byte{data(72, 5*mib), data(73, 5*mib), data(74, 5*mib), data(75, mib+7)}
	whole := bytes.Join(parts, nil)
	for _, c := range []struct {
		name string
		alg  types.ChecksumAlgorithm // on Create and parts; "" for neither
		typ  types.ChecksumType      // on Create
		// what the object gets
		wantAlg types.ChecksumAlgorithm
		want    string
		wantTyp types.ChecksumType
	}{
		{"crc32-composite", crc32, "", crc32, compositeOf(crc32, parts), composite},
		{"crc32-full", crc32, full, crc32, checksumOf(crc32, whole), full},
		{"crc32c-full", types.ChecksumAlgorithmCrc32c, full, types.ChecksumAlgorithmCrc32c, checksumOf(types.ChecksumAlgorithmCrc32c, whole), full},
		{"crc64nvme", crc64, "", crc64, checksumOf(crc64, whole), full},
		{"sha256", types.ChecksumAlgorithmSha256, "", types.ChecksumAlgorithmSha256, compositeOf(types.ChecksumAlgorithmSha256, parts), composite},
		// Create names nothing; the parts carry the SDK's default CRC32.
		{"undeclared", "", "", crc64, checksumOf(crc64, whole), full},
	} {
		u := e.createUpload(t, b, c.name, func(in *s3.CreateMultipartUploadInput) {
			in.ChecksumAlgorithm, in.ChecksumType = c.alg, c.typ
		})
		done := make([]types.CompletedPart, len(parts))
		var g errgroup.Group
		g.SetLimit(4)
		for i, p := range parts {
			g.Go(func() error {
				n := int32(i + 1)
				out, err := u.partErr(n, p, func(in *s3.UploadPartInput) { in.ChecksumAlgorithm = c.alg })
				if err != nil {
					return fmt.Errorf("part %d: %w", n, err)
				}
				done[i] = types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag,
					ChecksumCRC32: out.ChecksumCRC32, ChecksumCRC32C: out.ChecksumCRC32C, ChecksumCRC64NVME: out.ChecksumCRC64NVME,
					ChecksumSHA1: out.ChecksumSHA1, ChecksumSHA256: out.ChecksumSHA256}
				if c.alg != "" {
					f := sumFields{out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME, out.ChecksumSHA1, out.ChecksumSHA256, out.ChecksumSHA512, ""}
					if got, want := f.get(t, "UploadPart", c.alg), checksumOf(c.alg, p); got != want {
						return fmt.Errorf("part %d: %s %q, want %q", n, c.alg, got, want)
					}
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		// Each part keeps its checksum: the upload's algorithm, or S3's
		// default CRC64NVME when Create named none.
		partAlg := c.alg
		if partAlg == "" {
			partAlg = crc64
		}
		lp, err := e.s3.ListParts(ctx(t), &s3.ListPartsInput{Bucket: &b, Key: aws.String(c.name), UploadId: &u.id})
		if err != nil {
			t.Fatalf("%s: ListParts: %v", c.name, err)
		}
		if len(lp.Parts) != len(parts) {
			t.Fatalf("%s: ListParts: %d parts, want %d", c.name, len(lp.Parts), len(parts))
		}
		for i, p := range lp.Parts {
			f := sumFields{p.ChecksumCRC32, p.ChecksumCRC32C, p.ChecksumCRC64NVME, p.ChecksumSHA1, p.ChecksumSHA256, p.ChecksumSHA512, ""}
			if got, want := f.get(t, c.name+": ListParts", partAlg), checksumOf(partAlg, parts[i]); got != want {
				t.Errorf("%s: ListParts part %d: %s %q, want %q", c.name, i+1, partAlg, got, want)
			}
		}
		// ListMultipartUploads names the upload's checksum as ListParts does.
		lu, err := e.s3.ListMultipartUploads(ctx(t), &s3.ListMultipartUploadsInput{Bucket: &b, Prefix: aws.String(c.name)})
		if err != nil || len(lu.Uploads) != 1 {
			t.Fatalf("%s: ListMultipartUploads: %+v, %v", c.name, lu, err)
		}
		if up := lu.Uploads[0]; up.ChecksumAlgorithm != lp.ChecksumAlgorithm || up.ChecksumType != lp.ChecksumType {
			t.Errorf("%s: ListMultipartUploads: checksum %q %q, ListParts %q %q", c.name, up.ChecksumAlgorithm, up.ChecksumType, lp.ChecksumAlgorithm, lp.ChecksumType)
		}
		out, err := u.complete(done...)
		if err != nil {
			t.Fatalf("%s: CompleteMultipartUpload: %v", c.name, err)
		}
		wantSum(t, c.name+": CompleteMultipartUpload",
			sumFields{out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME, out.ChecksumSHA1, out.ChecksumSHA256, out.ChecksumSHA512, out.ChecksumType},
			c.wantAlg, c.want, c.wantTyp)
		all = append(all, stored{c.name, whole, c.wantAlg, c.want, c.wantTyp})
	}

	for _, s := range all {
		checkStored(t, e, b, s.key, s.body, s.alg, s.want, s.typ)
	}
	e.restart()
	for _, s := range all {
		checkStored(t, e, b, s.key, s.body, s.alg, s.want, s.typ)
	}
	// The listings name each object's checksum algorithm and type, as AWS
	// lists them (S3 API reference, Object and ObjectVersion).
	type listed struct {
		alg types.ChecksumAlgorithm
		typ types.ChecksumType
	}
	v2, err := e.s3.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: &b})
	if err != nil {
		t.Fatalf("ListObjectsV2: %v", err)
	}
	versions, err := e.s3.ListObjectVersions(ctx(t), &s3.ListObjectVersionsInput{Bucket: &b})
	if err != nil {
		t.Fatalf("ListObjectVersions: %v", err)
	}
	got := map[string][]listed{}
	for _, o := range v2.Contents {
		got[*o.Key] = append(got[*o.Key], listed{o.ChecksumAlgorithm[0], o.ChecksumType})
	}
	for _, o := range versions.Versions {
		got[*o.Key] = append(got[*o.Key], listed{o.ChecksumAlgorithm[0], o.ChecksumType})
	}
	for _, s := range all {
		want := listed{s.alg, s.typ}
		if l := got[s.key]; len(l) != 2 || l[0] != want || l[1] != want {
			t.Errorf("%s: ListObjectsV2 and ListObjectVersions list %+v, want %+v", s.key, l, want)
		}
	}
}

// TestChecksumCopy: a copy keeps the source's algorithm, or computes the
// one x-amz-checksum-algorithm names; a copy is one part, so a COMPOSITE
// source gives a FULL_OBJECT copy.
func TestChecksumCopy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("copysums")
	body := data(80, 200<<10)
	if _, err := e.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &b, Key: aws.String("src"), Body: bytes.NewReader(body),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c}); err != nil {
		t.Fatal(err)
	}
	parts := [][]byte{data(81, 5*mib), data(82, 1000)}
	u := e.createUpload(t, b, "mp", func(in *s3.CreateMultipartUploadInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32 })
	var done []types.CompletedPart
	for i, p := range parts {
		out, err := u.partErr(int32(i+1), p, func(in *s3.UploadPartInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32 })
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
	}
	if _, err := u.complete(done...); err != nil {
		t.Fatal(err)
	}
	whole := bytes.Join(parts, nil)
	for _, c := range []struct {
		src, dst string
		alg      types.ChecksumAlgorithm // x-amz-checksum-algorithm
		body     []byte
		wantAlg  types.ChecksumAlgorithm
	}{
		{"src", "keep", "", body, types.ChecksumAlgorithmCrc32c},
		{"src", "sha256", types.ChecksumAlgorithmSha256, body, types.ChecksumAlgorithmSha256},
		{"mp", "mp-copy", "", whole, types.ChecksumAlgorithmCrc32},
	} {
		out, err := e.s3.CopyObject(ctx(t), &s3.CopyObjectInput{Bucket: &b, Key: &c.dst, CopySource: aws.String(b + "/" + c.src), ChecksumAlgorithm: c.alg})
		if err != nil {
			t.Fatalf("CopyObject %s: %v", c.dst, err)
		}
		r := out.CopyObjectResult
		want := checksumOf(c.wantAlg, c.body)
		wantSum(t, "CopyObject "+c.dst, sumFields{r.ChecksumCRC32, r.ChecksumCRC32C, r.ChecksumCRC64NVME, r.ChecksumSHA1, r.ChecksumSHA256, r.ChecksumSHA512, r.ChecksumType},
			c.wantAlg, want, types.ChecksumTypeFullObject)
		checkStored(t, e, b, c.dst, c.body, c.wantAlg, want, types.ChecksumTypeFullObject)
	}
	_, err := e.s3.CopyObject(ctx(t), &s3.CopyObjectInput{Bucket: &b, Key: aws.String("bad"), CopySource: aws.String(b + "/src"), ChecksumAlgorithm: "CRC16"})
	wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
}

// TestChecksumNewAlgorithms: SHA512 and the XXHASH family, which S3 added
// in 2026, are accepted, checked and returned like the others.
func TestChecksumNewAlgorithms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("newsums")
	body := data(90, 600<<10+5) // several chunks: the MD5 goroutine sees more than one
	sha := sha512.Sum512(body)
	want512 := base64.StdEncoding.EncodeToString(sha[:])
	out, err := e.s3.PutObject(ctx(t), &s3.PutObjectInput{Bucket: &b, Key: aws.String("sha512"), Body: bytes.NewReader(body), ChecksumAlgorithm: types.ChecksumAlgorithmSha512})
	if err != nil {
		t.Fatalf("PutObject SHA512: %v", err)
	}
	if aws.ToString(out.ChecksumSHA512) != want512 {
		t.Errorf("PutObject SHA512 %q, want %q", aws.ToString(out.ChecksumSHA512), want512)
	}
	checkStored(t, e, b, "sha512", body, types.ChecksumAlgorithmSha512, want512, types.ChecksumTypeFullObject)

	xx := xxhash.Sum64(body)
	wantXX := base64.StdEncoding.EncodeToString([]byte{byte(xx >> 56), byte(xx >> 48), byte(xx >> 40), byte(xx >> 32), byte(xx >> 24), byte(xx >> 16), byte(xx >> 8), byte(xx)})
	put := func(key, header, value string) (int, []byte) {
		r := e.request(http.MethodPut, e.url(b, key), body)
		r.Header.Set(header, value)
		e.signBody(r, body)
		status, _, resp := e.do(r)
		return status, resp
	}
	md := md5.Sum(body)
	// MD5 shares the ETag's digest, which runs on a goroutine of its own.
	for _, c := range []struct{ key, header, value string }{
		{"xx", "x-amz-checksum-xxhash64", wantXX},
		{"md5", "x-amz-checksum-md5", base64.StdEncoding.EncodeToString(md[:])},
	} {
		if status, resp := put(c.key, c.header, c.value); status != http.StatusOK {
			t.Fatalf("PUT with %s: %d %s", c.header, status, resp)
		}
		r := e.request(http.MethodHead, e.url(b, c.key), nil)
		r.Header.Set("x-amz-checksum-mode", "ENABLED")
		e.signBody(r, nil)
		if _, h, _ := e.do(r); h.Get(c.header) != c.value || h.Get("x-amz-checksum-type") != "FULL_OBJECT" {
			t.Errorf("HEAD: %s %q type %q, want %q FULL_OBJECT", c.header, h.Get(c.header), h.Get("x-amz-checksum-type"), c.value)
		}
	}
	for _, c := range []struct{ header, value, code string }{
		{"x-amz-checksum-md5", base64.StdEncoding.EncodeToString(make([]byte, 16)), "BadDigest"},
		{"x-amz-checksum-xxhash64", checksumOf(types.ChecksumAlgorithmCrc64nvme, body), "BadDigest"}, // 8 bytes, another hash
		{"x-amz-checksum-crc16", "AAA=", "InvalidRequest"},
		{"x-amz-checksum-crc32", "not base64", "InvalidRequest"},
	} {
		status, resp := put("refused", c.header, c.value)
		if status != http.StatusBadRequest || !strings.Contains(string(resp), "<Code>"+c.code+"</Code>") {
			t.Errorf("PUT with %s: %q: %d %s, want %s", c.header, c.value, status, resp, c.code)
		}
	}
	e.absent(b, "refused")
}

// TestChecksumRefusals: the combinations AWS refuses, with its codes.
func TestChecksumRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("badsums")
	c := ctx(t)
	for _, in := range []s3.CreateMultipartUploadInput{
		{ChecksumAlgorithm: types.ChecksumAlgorithmSha256, ChecksumType: types.ChecksumTypeFullObject},
		{ChecksumAlgorithm: types.ChecksumAlgorithmCrc64nvme, ChecksumType: types.ChecksumTypeComposite},
		{ChecksumType: types.ChecksumTypeFullObject},
		{ChecksumAlgorithm: "CRC16"},
	} {
		in.Bucket, in.Key = &b, aws.String("k")
		_, err := e.s3.CreateMultipartUpload(c, &in)
		wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
	}

	p1, p2 := data(100, 5*mib), data(101, 100)
	newUpload := func(typ types.ChecksumType) (*upload, []types.CompletedPart) {
		u := e.createUpload(t, b, "k", func(in *s3.CreateMultipartUploadInput) {
			in.ChecksumAlgorithm, in.ChecksumType = types.ChecksumAlgorithmCrc32, typ
		})
		var done []types.CompletedPart
		for i, p := range [][]byte{p1, p2} {
			out, err := u.partErr(int32(i+1), p, func(in *s3.UploadPartInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32 })
			if err != nil {
				t.Fatal(err)
			}
			done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
		}
		return u, done
	}
	u, done := newUpload("")
	// A part with another algorithm than the upload's.
	_, err := u.partErr(3, p2, func(in *s3.UploadPartInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32c })
	wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
	// A COMPOSITE upload's complete must name every part's checksum...
	missing := slices.Clone(done)
	missing[1].ChecksumCRC32 = nil
	_, err = u.complete(missing...)
	wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
	// ... and the right one.
	wrong := slices.Clone(done)
	wrong[1].ChecksumCRC32 = aws.String(checksumOf(types.ChecksumAlgorithmCrc32, p1))
	_, err = u.complete(wrong...)
	wantCode(t, err, "InvalidPart", http.StatusBadRequest)
	// The type named on complete must be the upload's.
	_, err = e.s3.CompleteMultipartUpload(c, &s3.CompleteMultipartUploadInput{Bucket: &b, Key: aws.String("k"), UploadId: &u.id,
		ChecksumType: types.ChecksumTypeFullObject, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	wantCode(t, err, "InvalidRequest", http.StatusBadRequest)
	if _, err := u.complete(done...); err != nil {
		t.Fatalf("complete with the right checksums: %v", err)
	}

	// A FULL_OBJECT value named on complete must be the object's.
	whole := append(slices.Clone(p1), p2...)
	for _, v := range []string{checksumOf(types.ChecksumAlgorithmCrc32, p1), checksumOf(types.ChecksumAlgorithmCrc32, whole)} {
		u, done := newUpload(types.ChecksumTypeFullObject)
		_, err := e.s3.CompleteMultipartUpload(c, &s3.CompleteMultipartUploadInput{Bucket: &b, Key: aws.String("k"), UploadId: &u.id,
			ChecksumCRC32: aws.String(v), ChecksumType: types.ChecksumTypeFullObject, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
		if v == checksumOf(types.ChecksumAlgorithmCrc32, whole) {
			if err != nil {
				t.Errorf("complete with the object's CRC32: %v", err)
			}
			continue
		}
		wantCode(t, err, "BadDigest", http.StatusBadRequest)
	}
}
