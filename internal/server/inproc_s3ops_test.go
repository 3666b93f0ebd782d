package server_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

// The operations modern clients use without asking (issue #13, item 4),
// driven by aws-sdk-go-v2 at its default settings: tagging, UploadPartCopy,
// ListObjectVersions and versioning, GetObjectAttributes, ACLs the
// BucketOwnerEnforced way, Object Lock and website redirects refused, and
// x-amz-expected-bucket-owner.

// stores runs fn on a server with each metadata store: the data
// directory's SQLite, and PostgreSQL.
func stores(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newEnv(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, newEnv(t, withMeta(testenv.Postgres(t)))) })
}

func tagSet(tags []types.Tag) string {
	var s []string
	for _, t := range tags {
		s = append(s, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
	}
	return strings.Join(s, "&")
}

func (e *env) tags(t *testing.T, bucket, key string) string {
	t.Helper()
	out, err := e.s3.GetObjectTagging(ctx(t), &s3.GetObjectTaggingInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("GetObjectTagging %s: %v", key, err)
	}
	return tagSet(out.TagSet)
}

func TestObjectTagging(t *testing.T) {
	stores(t, func(t *testing.T, e *env) {
		c := ctx(t)
		b := e.bucket("tags")
		e.put(b, "k", []byte("tagged"), func(in *s3.PutObjectInput) { in.Tagging = aws.String("a=1&b=two%20words&empty=") })
		if got := e.tags(t, b, "k"); got != "a=1&b=two words&empty=" {
			t.Errorf("tags after PutObject with x-amz-tagging: %q", got)
		}
		head, err := e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("k")})
		if err != nil || aws.ToInt32(head.TagCount) != 3 {
			t.Errorf("HeadObject TagCount %v, %v; want 3", head.TagCount, err)
		}
		get, err := e.s3.GetObject(c, &s3.GetObjectInput{Bucket: &b, Key: aws.String("k")})
		if err != nil || aws.ToInt32(get.TagCount) != 3 {
			t.Errorf("GetObject TagCount %v, %v; want 3", get.TagCount, err)
		} else {
			get.Body.Close()
		}
		e.put(b, "plain", []byte("x"))
		head, err = e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("plain")})
		if err != nil || head.TagCount != nil {
			t.Errorf("HeadObject of an untagged object: TagCount %v, %v; want none", head.TagCount, err)
		}

		put := func(key string, tags ...types.Tag) error {
			_, err := e.s3.PutObjectTagging(c, &s3.PutObjectTaggingInput{Bucket: &b, Key: aws.String(key), Tagging: &types.Tagging{TagSet: tags}})
			return err
		}
		tag := func(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }
		ten := make([]types.Tag, 10)
		for i := range ten {
			ten[i] = tag(fmt.Sprintf("k%d", i), "v")
		}
		ten[0] = tag(strings.Repeat("ķ", 128), strings.Repeat("v", 256)) // limits count characters
		if err := put("k", ten...); err != nil {
			t.Fatalf("PutObjectTagging with 10 tags at the limits: %v", err)
		}
		if got := e.tags(t, b, "k"); got != tagSet(ten) {
			t.Errorf("tags: %q, want %q", got, tagSet(ten))
		}
		wantCode(t, put("k", append(ten, tag("eleven", "x"))...), "BadRequest", 400)
		wantCode(t, put("k", tag(strings.Repeat("k", 129), "x")), "InvalidTag", 400)
		wantCode(t, put("k", tag("k", strings.Repeat("v", 257))), "InvalidTag", 400)
		wantCode(t, put("k", tag("k", "1"), tag("k", "2")), "InvalidTag", 400)
		wantCode(t, put("k", tag("bad<char>", "1")), "InvalidTag", 400)
		wantCode(t, put("missing", tag("a", "1")), "NoSuchKey", 404)
		if got := e.tags(t, b, "k"); got != tagSet(ten) {
			t.Errorf("tags after refused puts: %q, want them unchanged", got)
		}
		_, err = e.s3.PutObject(c, &s3.PutObjectInput{Bucket: &b, Key: aws.String("k2"), Body: strings.NewReader("x"), Tagging: aws.String("a=1&a=2")})
		wantCode(t, err, "InvalidArgument", 400)

		// Tags are kept with the object, across a restart, without
		// touching its ETag or time.
		before, _ := e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("k")})
		if err := put("k", tag("after", "restart")); err != nil {
			t.Fatal(err)
		}
		e.restart()
		if got := e.tags(t, b, "k"); got != "after=restart" {
			t.Errorf("tags after a restart: %q", got)
		}
		after, _ := e.s3.HeadObject(c, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("k")})
		if aws.ToString(after.ETag) != aws.ToString(before.ETag) || !aws.ToTime(after.LastModified).Equal(aws.ToTime(before.LastModified)) {
			t.Errorf("PutObjectTagging changed the object: %v %v, was %v %v", after.ETag, after.LastModified, before.ETag, before.LastModified)
		}

		// CopyObject copies the tags, or replaces them.
		if _, err := e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: &b, Key: aws.String("copy"), CopySource: aws.String(b + "/k")}); err != nil {
			t.Fatal(err)
		}
		if got := e.tags(t, b, "copy"); got != "after=restart" {
			t.Errorf("tags of a copy: %q", got)
		}
		if _, err := e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: &b, Key: aws.String("copy2"), CopySource: aws.String(b + "/k"),
			TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("new=1")}); err != nil {
			t.Fatal(err)
		}
		if got := e.tags(t, b, "copy2"); got != "new=1" {
			t.Errorf("tags of a copy with REPLACE: %q", got)
		}

		// A multipart upload's object gets the tags of its creation.
		u := e.createUpload(t, b, "mp", func(in *s3.CreateMultipartUploadInput) { in.Tagging = aws.String("mp=yes") })
		etag := u.part(1, []byte("part"))
		if _, err := u.complete(cp(1, etag)); err != nil {
			t.Fatal(err)
		}
		if got := e.tags(t, b, "mp"); got != "mp=yes" {
			t.Errorf("tags of a completed upload: %q", got)
		}

		// A new version of the object has its own tags; deleting tags
		// leaves the object.
		e.put(b, "copy", []byte("new"))
		if got := e.tags(t, b, "copy"); got != "" {
			t.Errorf("tags after an overwrite without x-amz-tagging: %q", got)
		}
		if _, err := e.s3.DeleteObjectTagging(c, &s3.DeleteObjectTaggingInput{Bucket: &b, Key: aws.String("copy2")}); err != nil {
			t.Fatal(err)
		}
		if got := e.tags(t, b, "copy2"); got != "" {
			t.Errorf("tags after DeleteObjectTagging: %q", got)
		}
		if got := e.get(b, "copy2"); string(got) != "tagged" {
			t.Errorf("DeleteObjectTagging touched the object: %q", got)
		}
	})
}

// TestTaggingPolicyActions: the tagging operations are authorized as
// s3:GetObjectTagging, s3:PutObjectTagging and s3:DeleteObjectTagging, a
// PutObject with tags needs s3:PutObjectTagging too, the tag count is sent
// only to who may read the tags, and GetObjectAttributes needs
// s3:GetObject and s3:GetObjectAttributes.
func TestTaggingPolicyActions(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	b := e.bucket("tagpol")
	e.put(b, "k", []byte("v"), func(in *s3.PutObjectInput) { in.Tagging = aws.String("a=1") })
	user := func(name string, actions ...string) *s3.Client {
		doc := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["%s"],"Resource":["arn:aws:s3:::%s","arn:aws:s3:::%s/*"]}]}`,
			strings.Join(actions, `","`), b, b)
		k, err := e.srv.Access().CreateUser(c, name, []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return e.newS3(k.ID, k.Secret)
	}
	reader := user("reader", "s3:GetObject", "s3:PutObject")
	tagger := user("tagger", "s3:GetObject", "s3:PutObject", "s3:GetObjectTagging", "s3:PutObjectTagging", "s3:DeleteObjectTagging", "s3:GetObjectAttributes")

	_, err := reader.GetObjectTagging(c, &s3.GetObjectTaggingInput{Bucket: &b, Key: aws.String("k")})
	wantCode(t, err, "AccessDenied", 403)
	_, err = reader.PutObjectTagging(c, &s3.PutObjectTaggingInput{Bucket: &b, Key: aws.String("k"), Tagging: &types.Tagging{TagSet: []types.Tag{}}})
	wantCode(t, err, "AccessDenied", 403)
	_, err = reader.DeleteObjectTagging(c, &s3.DeleteObjectTaggingInput{Bucket: &b, Key: aws.String("k")})
	wantCode(t, err, "AccessDenied", 403)
	_, err = reader.PutObject(c, &s3.PutObjectInput{Bucket: &b, Key: aws.String("k2"), Body: strings.NewReader("x"), Tagging: aws.String("a=1")})
	wantCode(t, err, "AccessDenied", 403)
	if _, err := reader.PutObject(c, &s3.PutObjectInput{Bucket: &b, Key: aws.String("k2"), Body: strings.NewReader("x")}); err != nil {
		t.Errorf("PutObject without tags by a user without s3:PutObjectTagging: %v", err)
	}
	head, err := reader.HeadObject(c, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("k")})
	if err != nil || head.TagCount != nil {
		t.Errorf("HeadObject by a user who may not read tags: TagCount %v, %v; want none", head.TagCount, err)
	}
	_, err = reader.GetObjectAttributes(c, &s3.GetObjectAttributesInput{Bucket: &b, Key: aws.String("k"), ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesEtag}})
	wantCode(t, err, "AccessDenied", 403)

	for _, step := range []func() error{
		func() error {
			_, err := tagger.PutObject(c, &s3.PutObjectInput{Bucket: &b, Key: aws.String("k3"), Body: strings.NewReader("x"), Tagging: aws.String("a=1")})
			return err
		},
		func() error {
			_, err := tagger.PutObjectTagging(c, &s3.PutObjectTaggingInput{Bucket: &b, Key: aws.String("k"), Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("b"), Value: aws.String("2")}}}})
			return err
		},
		func() error {
			out, err := tagger.HeadObject(c, &s3.HeadObjectInput{Bucket: &b, Key: aws.String("k")})
			if err == nil && aws.ToInt32(out.TagCount) != 1 {
				err = fmt.Errorf("TagCount %v, want 1", out.TagCount)
			}
			return err
		},
		func() error {
			_, err := tagger.GetObjectAttributes(c, &s3.GetObjectAttributesInput{Bucket: &b, Key: aws.String("k"), ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesEtag}})
			return err
		},
		func() error {
			_, err := tagger.DeleteObjectTagging(c, &s3.DeleteObjectTaggingInput{Bucket: &b, Key: aws.String("k")})
			return err
		},
	} {
		if err := step(); err != nil {
			t.Errorf("allowed by s3:*ObjectTagging: %v", err)
		}
	}
}

// blobCount is how many blobs the server's blob store holds.
func (e *env) blobCount(t *testing.T) int {
	t.Helper()
	n := 0
	err := e.srv.Objects().Blobs.Walk(context.Background(), func(string, time.Time) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestUploadPartCopy: parts copied from ranges that are whole segments of
// the source share its blobs (no new blob), others are copied; either way
// the parts' ETags are the MD5s of their bytes, and the object reads
// back, also once the source is gone.
func TestUploadPartCopy(t *testing.T) {
	stores(t, func(t *testing.T, e *env) {
		c := ctx(t)
		b := e.bucket("partcopy")
		p1, p2 := data(1, 5*mib), data(2, 5*mib+17)
		src := e.createUpload(t, b, "src")
		_, err := src.complete(cp(1, src.part(1, p1)), cp(2, src.part(2, p2)))
		if err != nil {
			t.Fatal(err)
		}
		single := data(3, 6*mib)
		singleETag := e.put(b, "single", single)
		blobs := e.blobCount(t)

		copyPart := func(u *upload, n int32, source, rng string) (*s3.UploadPartCopyOutput, error) {
			in := &s3.UploadPartCopyInput{Bucket: &u.bucket, Key: &u.key, UploadId: &u.id, PartNumber: aws.Int32(n), CopySource: aws.String(b + "/" + source)}
			if rng != "" {
				in.CopySourceRange = aws.String(rng)
			}
			return e.s3.UploadPartCopy(c, in)
		}
		dst := e.createUpload(t, b, "dst")
		var parts []types.CompletedPart
		for i, rng := range []string{fmt.Sprintf("bytes=0-%d", len(p1)-1), fmt.Sprintf("bytes=%d-%d", len(p1), len(p1)+len(p2)-1)} {
			out, err := copyPart(dst, int32(i+1), "src", rng)
			if err != nil {
				t.Fatalf("UploadPartCopy %s: %v", rng, err)
			}
			if got, want := aws.ToString(out.CopyPartResult.ETag), md5ETag([][]byte{p1, p2}[i]); got != want {
				t.Errorf("part %d ETag %s, want %s, the MD5 of its bytes", i+1, got, want)
			}
			parts = append(parts, cp(int32(i+1), aws.ToString(out.CopyPartResult.ETag)))
		}
		whole, err := copyPart(dst, 3, "single", "")
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(whole.CopyPartResult.ETag); got != singleETag {
			t.Errorf("whole-object part ETag %s, want the source's %s", got, singleETag)
		}
		if n := e.blobCount(t); n != blobs {
			t.Errorf("%d blobs after copying whole segments, want %d: bytes were copied", n, blobs)
		}
		// A range across segments is copied.
		out, err := copyPart(dst, 4, "src", fmt.Sprintf("bytes=%d-%d", len(p1)-10, len(p1)+9))
		if err != nil {
			t.Fatal(err)
		}
		crossBytes := append(bytes.Clone(p1[len(p1)-10:]), p2[:10]...)
		if got, want := aws.ToString(out.CopyPartResult.ETag), md5ETag(crossBytes); got != want {
			t.Errorf("cross-segment part ETag %s, want %s", got, want)
		}
		if n := e.blobCount(t); n != blobs+1 {
			t.Errorf("%d blobs after a cross-segment copy, want %d", n, blobs+1)
		}
		parts = append(parts, cp(3, aws.ToString(whole.CopyPartResult.ETag)), cp(4, aws.ToString(out.CopyPartResult.ETag)))
		done, err := dst.complete(parts...)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := aws.ToString(done.ETag), multipartETag(p1, p2, single, crossBytes); got != want {
			t.Errorf("completed ETag %s, want %s", got, want)
		}
		want := slices.Concat(p1, p2, single, crossBytes)
		// The shared blobs outlive their first object.
		for _, k := range []string{"src", "single"} {
			if _, err := e.s3.DeleteObject(c, &s3.DeleteObjectInput{Bucket: &b, Key: aws.String(k)}); err != nil {
				t.Fatal(err)
			}
		}
		if got := e.get(b, "dst"); !bytes.Equal(got, want) {
			t.Errorf("copied object differs (%d bytes, want %d)", len(got), len(want))
		}

		// Errors as AWS answers them.
		e.put(b, "five", []byte("12345"))
		bad := e.createUpload(t, b, "bad")
		_, err = copyPart(bad, 1, "five", "bytes=0-21")
		wantCode(t, err, "InvalidArgument", 400)
		_, err = copyPart(bad, 1, "five", "bytes=3-")
		wantCode(t, err, "InvalidArgument", 400)
		_, err = copyPart(bad, 1, "nope", "")
		wantCode(t, err, "NoSuchKey", 404)
		_, err = e.s3.UploadPartCopy(c, &s3.UploadPartCopyInput{Bucket: &b, Key: aws.String("bad"), UploadId: aws.String("nope"),
			PartNumber: aws.Int32(1), CopySource: aws.String(b + "/five")})
		wantCode(t, err, "NoSuchUpload", 404)
		_, err = e.s3.UploadPartCopy(c, &s3.UploadPartCopyInput{Bucket: &b, Key: &bad.key, UploadId: &bad.id,
			PartNumber: aws.Int32(1), CopySource: aws.String(b + "/five"), CopySourceIfMatch: aws.String(`"nope"`)})
		wantCode(t, err, "PreconditionFailed", 412)
	})
}

// md5ETag is the ETag of b written whole: its MD5.
func md5ETag(b []byte) string {
	sum := md5.Sum(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func TestListObjectVersions(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	b := e.bucket("versions")
	keys := []string{"a", "b/1", "b/2", "c", "d e"}
	for _, k := range keys {
		e.put(b, k, []byte(k))
	}
	var got []string
	in := &s3.ListObjectVersionsInput{Bucket: &b, MaxKeys: aws.Int32(2)}
	for pages := 0; ; pages++ {
		out, err := e.s3.ListObjectVersions(c, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range out.Versions {
			if aws.ToString(v.VersionId) != "null" || !aws.ToBool(v.IsLatest) || aws.ToInt64(v.Size) != int64(len(aws.ToString(v.Key))) {
				t.Errorf("version %+v: want VersionId null, latest, its size", v)
			}
			got = append(got, aws.ToString(v.Key))
		}
		if len(out.DeleteMarkers) != 0 {
			t.Errorf("delete markers in an unversioned bucket: %+v", out.DeleteMarkers)
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		if pages > 5 || aws.ToString(out.NextVersionIdMarker) != "null" {
			t.Fatalf("page %d: NextKeyMarker %q NextVersionIdMarker %q", pages, aws.ToString(out.NextKeyMarker), aws.ToString(out.NextVersionIdMarker))
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
	if !slices.Equal(got, keys) {
		t.Errorf("versions %q, want %q", got, keys)
	}
	out, err := e.s3.ListObjectVersions(c, &s3.ListObjectVersionsInput{Bucket: &b, Delimiter: aws.String("/")})
	if err != nil || len(out.CommonPrefixes) != 1 || aws.ToString(out.CommonPrefixes[0].Prefix) != "b/" || len(out.Versions) != 3 {
		t.Errorf("with a delimiter: %+v, %v", out, err)
	}
	_, err = e.s3.ListObjectVersions(c, &s3.ListObjectVersionsInput{Bucket: &b, VersionIdMarker: aws.String("null")})
	wantCode(t, err, "InvalidArgument", 400)
	_, err = e.s3.ListObjectVersions(c, &s3.ListObjectVersionsInput{Bucket: aws.String("no-such-bucket")})
	wantCode(t, err, "NoSuchBucket", 404)

	v, err := e.s3.GetBucketVersioning(c, &s3.GetBucketVersioningInput{Bucket: &b})
	if err != nil || v.Status != "" {
		t.Errorf("GetBucketVersioning: %q, %v; want no status", v.Status, err)
	}
	_, err = e.s3.PutBucketVersioning(c, &s3.PutBucketVersioningInput{Bucket: &b,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	wantCode(t, err, "NotImplemented", 501)
	if err == nil || !strings.Contains(err.Error(), "versioning is not implemented") {
		t.Errorf("PutBucketVersioning Enabled: %v, want a message that says why", err)
	}
	// GetObject with versionId "null" is the object; another is refused.
	if _, err := e.s3.GetObject(c, &s3.GetObjectInput{Bucket: &b, Key: aws.String("a"), VersionId: aws.String("null")}); err != nil {
		t.Errorf("GetObject versionId=null: %v", err)
	}
	_, err = e.s3.GetObjectTagging(c, &s3.GetObjectTaggingInput{Bucket: &b, Key: aws.String("a"), VersionId: aws.String("3HL4kqtJlcpXroDTDmJ")})
	wantCode(t, err, "InvalidArgument", 400)
	_, err = e.s3.GetObject(c, &s3.GetObjectInput{Bucket: &b, Key: aws.String("a"), VersionId: aws.String("3HL4kqtJlcpXroDTDmJ")})
	wantCode(t, err, "InvalidArgument", 400)
	_, err = e.s3.DeleteObject(c, &s3.DeleteObjectInput{Bucket: &b, Key: aws.String("a"), VersionId: aws.String("3HL4kqtJlcpXroDTDmJ")})
	wantCode(t, err, "InvalidArgument", 400)
	// Cleanup code deletes what ListObjectVersions listed, version "null".
	if _, err := e.s3.DeleteObject(c, &s3.DeleteObjectInput{Bucket: &b, Key: aws.String("a"), VersionId: aws.String("null")}); err != nil {
		t.Fatal(err)
	}
	e.absent(b, "a")
}

func TestGetObjectAttributes(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	b := e.bucket("attrs")
	all := []types.ObjectAttributes{types.ObjectAttributesEtag, types.ObjectAttributesChecksum, types.ObjectAttributesObjectParts,
		types.ObjectAttributesStorageClass, types.ObjectAttributesObjectSize}
	body := []byte("attributes")
	etag := e.put(b, "one", body, func(in *s3.PutObjectInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32 })
	out, err := e.s3.GetObjectAttributes(c, &s3.GetObjectAttributesInput{Bucket: &b, Key: aws.String("one"), ObjectAttributes: all})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ETag) != strings.Trim(etag, `"`) || aws.ToInt64(out.ObjectSize) != int64(len(body)) ||
		out.StorageClass != types.StorageClassStandard || out.ObjectParts != nil || out.LastModified == nil {
		t.Errorf("attributes of a PUT object: ETag %q size %v class %q parts %+v modified %v", aws.ToString(out.ETag),
			out.ObjectSize, out.StorageClass, out.ObjectParts, out.LastModified)
	}
	if out.Checksum == nil || aws.ToString(out.Checksum.ChecksumCRC32) == "" || out.Checksum.ChecksumType != types.ChecksumTypeFullObject {
		t.Errorf("checksum of an object PUT with CRC32: %+v", out.Checksum)
	}
	only, err := e.s3.GetObjectAttributes(c, &s3.GetObjectAttributesInput{Bucket: &b, Key: aws.String("one"), ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectSize}})
	if err != nil || only.ETag != nil || aws.ToInt64(only.ObjectSize) != int64(len(body)) {
		t.Errorf("ObjectSize alone: %+v, %v", only, err)
	}

	// A multipart object whose checksum is not COMPOSITE (here S3's
	// default, a FULL_OBJECT CRC64NVME): the count of its parts alone.
	u := e.createUpload(t, b, "mp")
	p1, p2, p3 := data(4, 5*mib), data(5, 5*mib), data(6, 3)
	if _, err := u.complete(cp(1, u.part(1, p1)), cp(2, u.part(2, p2)), cp(3, u.part(3, p3))); err != nil {
		t.Fatal(err)
	}
	out, err = e.s3.GetObjectAttributes(c, &s3.GetObjectAttributesInput{Bucket: &b, Key: aws.String("mp"), ObjectAttributes: all, MaxParts: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	if op := out.ObjectParts; op == nil || aws.ToInt32(op.TotalPartsCount) != 3 || op.Parts != nil || op.IsTruncated != nil || op.MaxParts != nil {
		t.Errorf("ObjectParts of a FULL_OBJECT multipart object: %+v, want the count alone", op)
	}
	if want := strings.Trim(multipartETag(p1, p2, p3), `"`); aws.ToString(out.ETag) != want {
		t.Errorf("ETag %q, want %q", aws.ToString(out.ETag), want)
	}

	// A COMPOSITE one: its parts, in pages.
	u = e.createUpload(t, b, "mp", func(in *s3.CreateMultipartUploadInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmSha256 })
	var done []types.CompletedPart
	for i, p := range [][]byte{p1, p2, p3} {
		n := int32(i + 1)
		r, err := u.partErr(n, p, func(in *s3.UploadPartInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmSha256 })
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(n), ETag: r.ETag, ChecksumSHA256: r.ChecksumSHA256})
	}
	if _, err := u.complete(done...); err != nil {
		t.Fatal(err)
	}
	out, err = e.s3.GetObjectAttributes(c, &s3.GetObjectAttributesInput{Bucket: &b, Key: aws.String("mp"), ObjectAttributes: all, MaxParts: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	op := out.ObjectParts
	if op == nil || aws.ToInt32(op.TotalPartsCount) != 3 || !aws.ToBool(op.IsTruncated) || len(op.Parts) != 2 ||
		aws.ToInt64(op.Parts[1].Size) != int64(len(p2)) || aws.ToString(op.NextPartNumberMarker) != "2" {
		t.Fatalf("ObjectParts, first page: %+v", op)
	}
	out, err = e.s3.GetObjectAttributes(c, &s3.GetObjectAttributesInput{Bucket: &b, Key: aws.String("mp"), ObjectAttributes: all, PartNumberMarker: op.NextPartNumberMarker})
	if err != nil || len(out.ObjectParts.Parts) != 1 || aws.ToInt32(out.ObjectParts.Parts[0].PartNumber) != 3 || aws.ToInt64(out.ObjectParts.Parts[0].Size) != 3 {
		t.Errorf("ObjectParts, second page: %+v, %v", out.ObjectParts, err)
	}
	_, err = e.s3.GetObjectAttributes(c, &s3.GetObjectAttributesInput{Bucket: &b, Key: aws.String("nope"), ObjectAttributes: all})
	wantCode(t, err, "NoSuchKey", 404)
	r := e.request(http.MethodGet, e.url(b, "one")+"?attributes", nil)
	r.Header.Set("X-Amz-Object-Attributes", "ETag,Bogus")
	e.signBody(r, nil)
	st, _, doc := e.do(r)
	wantError(t, st, doc, 400, "InvalidArgument")
	r = e.request(http.MethodGet, e.url(b, "one")+"?attributes", nil)
	e.signBody(r, nil)
	st, _, doc = e.do(r)
	wantError(t, st, doc, 400, "InvalidRequest")
}

// TestACLsDisabled: buckets behave as AWS's with Object Ownership
// BucketOwnerEnforced.
func TestACLsDisabled(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	b := e.bucket("acl")
	e.put(b, "k", []byte("v"))
	acl, err := e.s3.GetBucketAcl(c, &s3.GetBucketAclInput{Bucket: &b})
	if err != nil || len(acl.Grants) != 1 || acl.Grants[0].Permission != types.PermissionFullControl || aws.ToString(acl.Grants[0].Grantee.ID) != aws.ToString(acl.Owner.ID) {
		t.Errorf("GetBucketAcl: %+v, %v", acl, err)
	}
	oacl, err := e.s3.GetObjectAcl(c, &s3.GetObjectAclInput{Bucket: &b, Key: aws.String("k")})
	if err != nil || len(oacl.Grants) != 1 || oacl.Grants[0].Permission != types.PermissionFullControl {
		t.Errorf("GetObjectAcl: %+v, %v", oacl, err)
	}
	refused := func(what string, err error) {
		t.Helper()
		wantCode(t, err, "AccessControlListNotSupported", 400)
		if err != nil && !strings.Contains(err.Error(), "bucket policy") {
			t.Errorf("%s: %v, want the message to point to bucket policies", what, err)
		}
	}
	_, err = e.s3.PutObject(c, &s3.PutObjectInput{Bucket: &b, Key: aws.String("pub"), Body: strings.NewReader("x"), ACL: types.ObjectCannedACLPublicRead})
	refused("PutObject public-read", err)
	e.absent(b, "pub")
	for _, a := range []types.ObjectCannedACL{types.ObjectCannedACLPrivate, types.ObjectCannedACLBucketOwnerFullControl} {
		if _, err := e.s3.PutObject(c, &s3.PutObjectInput{Bucket: &b, Key: aws.String("ok"), Body: strings.NewReader("x"), ACL: a}); err != nil {
			t.Errorf("PutObject with ACL %s: %v", a, err)
		}
	}
	_, err = e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: &b, Key: aws.String("c"), CopySource: aws.String(b + "/k"), ACL: types.ObjectCannedACLPublicRead})
	refused("CopyObject public-read", err)
	_, err = e.s3.CreateMultipartUpload(c, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("m"), GrantRead: aws.String(`uri="http://acs.amazonaws.com/groups/global/AllUsers"`)})
	refused("CreateMultipartUpload grant-read", err)
	_, err = e.s3.CreateBucket(c, &s3.CreateBucketInput{Bucket: aws.String("acl-public"), ACL: types.BucketCannedACLPublicRead})
	refused("CreateBucket public-read", err)
	_, err = e.s3.PutBucketAcl(c, &s3.PutBucketAclInput{Bucket: &b, ACL: types.BucketCannedACLPublicRead})
	refused("PutBucketAcl public-read", err)
	if _, err := e.s3.PutBucketAcl(c, &s3.PutBucketAclInput{Bucket: &b, ACL: types.BucketCannedACLPrivate}); err != nil {
		t.Errorf("PutBucketAcl private: %v", err)
	}
	_, err = e.s3.PutObjectAcl(c, &s3.PutObjectAclInput{Bucket: &b, Key: aws.String("k"), ACL: types.ObjectCannedACLPublicRead})
	refused("PutObjectAcl public-read", err)
	// The owner's full control, as GetObjectAcl reads it, is accepted.
	if _, err := e.s3.PutObjectAcl(c, &s3.PutObjectAclInput{Bucket: &b, Key: aws.String("k"),
		AccessControlPolicy: &types.AccessControlPolicy{Owner: oacl.Owner, Grants: oacl.Grants}}); err != nil {
		t.Errorf("PutObjectAcl with the owner's FULL_CONTROL: %v", err)
	}
	grants := append(slices.Clone(oacl.Grants), types.Grant{Permission: types.PermissionRead,
		Grantee: &types.Grantee{Type: types.TypeGroup, URI: aws.String("http://acs.amazonaws.com/groups/global/AllUsers")}})
	_, err = e.s3.PutObjectAcl(c, &s3.PutObjectAclInput{Bucket: &b, Key: aws.String("k"),
		AccessControlPolicy: &types.AccessControlPolicy{Owner: oacl.Owner, Grants: grants}})
	refused("PutObjectAcl granting AllUsers", err)
	if st := e.anonGet(b, "k"); st == http.StatusOK {
		t.Errorf("anonymous GET after refused ACLs: %d, want a refusal", st)
	}
}

// TestUnkeptHeadersRefused: Object Lock, website redirects and another
// account's bucket are refused, never ignored.
func TestUnkeptHeadersRefused(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	b := e.bucket("lock")
	e.put(b, "k", []byte("v"))
	_, err := e.s3.PutObject(c, &s3.PutObjectInput{Bucket: &b, Key: aws.String("l"), Body: strings.NewReader("x"),
		ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(time.Now().Add(time.Hour))})
	wantCode(t, err, "InvalidRequest", 400)
	if err != nil && !strings.Contains(err.Error(), "Bucket is missing Object Lock Configuration") {
		t.Errorf("PutObject with Object Lock: %v", err)
	}
	_, err = e.s3.CreateMultipartUpload(c, &s3.CreateMultipartUploadInput{Bucket: &b, Key: aws.String("l"), ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn})
	wantCode(t, err, "InvalidRequest", 400)
	_, err = e.s3.GetObjectRetention(c, &s3.GetObjectRetentionInput{Bucket: &b, Key: aws.String("k")})
	wantCode(t, err, "InvalidRequest", 400)
	_, err = e.s3.PutObjectLegalHold(c, &s3.PutObjectLegalHoldInput{Bucket: &b, Key: aws.String("k"),
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOn}})
	wantCode(t, err, "InvalidRequest", 400)
	_, err = e.s3.GetObjectLockConfiguration(c, &s3.GetObjectLockConfigurationInput{Bucket: &b})
	wantCode(t, err, "ObjectLockConfigurationNotFoundError", 404)
	_, err = e.s3.CreateBucket(c, &s3.CreateBucketInput{Bucket: aws.String("lock-enabled"), ObjectLockEnabledForBucket: aws.Bool(true)})
	wantCode(t, err, "NotImplemented", 501)
	_, err = e.s3.PutObject(c, &s3.PutObjectInput{Bucket: &b, Key: aws.String("w"), Body: strings.NewReader("x"), WebsiteRedirectLocation: aws.String("/other")})
	wantCode(t, err, "NotImplemented", 501)
	e.absent(b, "l")
	e.absent(b, "w")

	if _, err := e.s3.HeadBucket(c, &s3.HeadBucketInput{Bucket: &b, ExpectedBucketOwner: aws.String(access.DefaultAccount)}); err != nil {
		t.Errorf("HeadBucket with the right expected owner: %v", err)
	}
	_, err = e.s3.GetObject(c, &s3.GetObjectInput{Bucket: &b, Key: aws.String("k"), ExpectedBucketOwner: aws.String("111122223333")})
	wantCode(t, err, "AccessDenied", 403)
	_, err = e.s3.CopyObject(c, &s3.CopyObjectInput{Bucket: &b, Key: aws.String("c"), CopySource: aws.String(b + "/k"), ExpectedSourceBucketOwner: aws.String("111122223333")})
	wantCode(t, err, "AccessDenied", 403)
}
