package s3store

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/nixbucket/nixbucket/internal/storage"
	"github.com/nixbucket/nixbucket/internal/storage/storagetest"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.RunS3(m)) }

// testPartSize is S3's smallest part: the suite's blobs span several.
const testPartSize = 5 << 20

// open opens a backend on a fresh bucket of the test store, under prefix.
func open(t *testing.T, prefix string) (*Backend, *testenv.S3, string) {
	t.Helper()
	st := testenv.S3Store(t)
	bucket := st.NewBucket(t)
	b, err := Open(t.Context(), Config{
		Bucket: bucket, Prefix: prefix, Endpoint: st.Endpoint, Region: st.Region,
		PathStyle: true, PartSize: testPartSize,
	}, Options{Credentials: credentials.NewStaticCredentialsProvider(st.AccessKey, st.SecretKey, "")})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return b, st, bucket
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		b, _, _ := open(t, "cache/blobs-of-test")
		return b
	}, storagetest.WithoutReadAfterDelete(), storagetest.WithPartSize(testPartSize),
		storagetest.WithClockSkew(3*time.Second))
}

// streamOpen is a Backend whose Open is OpenStream, so that the suite
// checks blobs opened with a stream already running too.
type streamOpen struct{ *Backend }

func (b streamOpen) Open(ctx context.Context, id string) (storage.Blob, error) {
	return b.OpenStream(ctx, id)
}

func TestConformanceOpenStream(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		b, _, _ := open(t, "")
		return streamOpen{b}
	}, storagetest.WithoutReadAfterDelete(), storagetest.WithPartSize(testPartSize),
		storagetest.WithClockSkew(3*time.Second))
}
