package server_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestListPartsMaxZero: ListParts with max-parts=0 asks for no part and
// gets none (MaxParts 0, not truncated), as ListObjects answers
// max-keys=0, instead of a page of up to 1,000 parts that says MaxParts 0.
func TestListPartsMaxZero(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bucket("maxparts")
	u := e.createUpload(t, b, "k")
	u.part(1, data(70, 100))
	u.part(2, data(71, 100))
	out, err := e.s3.ListParts(ctx(t), &s3.ListPartsInput{Bucket: &b, Key: aws.String("k"), UploadId: &u.id, MaxParts: aws.Int32(0)})
	if err != nil {
		t.Fatalf("ListParts max-parts=0: %v", err)
	}
	if len(out.Parts) != 0 || aws.ToInt32(out.MaxParts) != 0 || aws.ToBool(out.IsTruncated) {
		t.Errorf("ListParts max-parts=0: %d parts, MaxParts %d, truncated %v; want none, 0, false",
			len(out.Parts), aws.ToInt32(out.MaxParts), aws.ToBool(out.IsTruncated))
	}
	// The upload must still exist.
	_, err = e.s3.ListParts(ctx(t), &s3.ListPartsInput{Bucket: &b, Key: aws.String("k"), UploadId: aws.String("0123456789abcdef0123456789abcdef"), MaxParts: aws.Int32(0)})
	wantCode(t, err, "NoSuchUpload", 404)
}
