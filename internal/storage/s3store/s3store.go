// Package s3store stores blobs in a bucket of any S3-compatible store
// (AWS S3, Cloudflare R2, Backblaze B2, Garage, Ceph RGW, SeaweedFS,
// versitygw), through aws-sdk-go-v2 and the AWS default credential chain.
//
// Layout under the configured prefix:
//
//	blobs/<id>   a committed blob; id is 128 random bits in lowercase hex
//
// S3 has no rename, and needs none here: a blob is written straight to its
// final key, because S3 makes an object visible only when its PutObject or
// CompleteMultipartUpload succeeds. A blob that fits in one part is sent
// with one PutObject at Commit; a larger one goes up as a multipart upload
// whose parts (DefaultPartSize, a few in flight) are sent while the body
// streams in, so a writer holds at most PartsInFlight+1 parts in memory.
// A blob whose size is known before its first byte (CreateSized: an S3
// PUT's Content-Length) streams instead, holding no part in memory: up to
// 128 MiB as one PutObject, larger into the single part of a multipart
// upload (stream.go).
// Each part carries its Content-MD5, which the store checks. A streamed
// blob whose SHA-256 the client signed goes signed with it instead, and
// the store checks that and gives the MD5 (storage.StoreVerifier, once a
// probe has shown the store does: verify.go). Commit returns
// once the store has acknowledged the object, which S3 stores make durable
// before answering; a crash before that leaves an unfinished multipart
// upload, invisible to Open and Walk, which SweepUploads aborts later.
//
// Walk reports an object's LastModified as its commit time. For a multipart
// upload AWS gives the time the upload started, which is earlier: the
// sweeper's grace period must cover the longest upload.
//
// Reads ask the store for ranges: Open sends a HEAD for the size and ETag
// (OpenStream, for a blob about to be read from its start, a GET of the
// whole blob instead, whose body the first reads use), and reads are
// ranged GETs conditional on that ETag, so a blob replaced or removed
// behind our back fails the read rather than mixing bytes. A sequential
// reader keeps one open-ended GET streaming instead of asking for each
// piece. A blob deleted while open is not readable further
// (storagetest.WithoutReadAfterDelete). Over plain http those open-ended
// GETs are sent by hand on connections of our own, so that the fast lane
// can splice a NAR from the store's socket into the client's (raw.go).
package s3store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/nixbucket/nixbucket/internal/storage"
)

const (
	// DefaultPartSize is the size of a multipart upload's parts.
	DefaultPartSize = 16 << 20
	// DefaultPartsInFlight is how many parts of one blob are sent at once.
	DefaultPartsInFlight = 3
	idLen                = 32
	// cleanupTimeout bounds an abort sent after the writer's context ended.
	cleanupTimeout = 30 * time.Second
)

// Backend is a storage.Backend on an S3 bucket. It is safe for concurrent
// use.
type Backend struct {
	cfg    Config
	client *s3.Client
	raw    rawConns    // idle connections of GETs and PUTs sent by hand (raw.go, rawput.go)
	rawPut rawPutter   // how a PUT goes by hand (rawput.go)
	verify verifyState // whether the store checks signed payloads (verify.go)
}

var _ storage.Placer = (*Backend)(nil)

// Options adjust Open for callers that do not use the default credential
// chain (tests) or that need their own connection limits.
type Options struct {
	// Credentials, when set, replace the default chain.
	Credentials aws.CredentialsProvider
	// Transport, when set, adjusts the HTTP transport (timeouts, as the
	// upstream fetcher sets them).
	Transport func(*http.Transport)
}

// Open connects to the store and checks that the bucket exists and that
// the credentials are accepted.
func Open(ctx context.Context, cfg Config, opts Options) (*Backend, error) {
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartsInFlight == 0 {
		cfg.PartsInFlight = DefaultPartsInFlight
	}
	client, err := newClient(ctx, cfg, opts, true)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	b := &Backend{cfg: cfg, client: client}
	if err := b.checkBucket(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// NewClient builds an S3 client for cfg's endpoint, region and profile
// with the AWS default credential chain, and checks that credentials can
// be found. Open uses it; so does the upstream fetcher, which reads
// another cache's bucket rather than blobs.
func NewClient(ctx context.Context, cfg Config, opts Options) (*s3.Client, error) {
	return newClient(ctx, cfg, opts, false)
}

// newClient is NewClient; the blob store's client (bounded) also bounds
// each wait of a request on the store by the request's stall.Bound
// (stallClient). The upstream fetcher's has timeouts of its own.
func newClient(ctx context.Context, cfg Config, opts Options, bounded bool) (*s3.Client, error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	// A BuildableClient, not an http.Client: the SDK applies AWS_CA_BUNDLE
	// only to the former.
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = 64
		if opts.Transport != nil {
			opts.Transport(tr)
		}
	})
	lo := []func(*config.LoadOptions) error{
		config.WithRegion(cfg.Region),
		config.WithHTTPClient(httpClient),
	}
	if cfg.Profile != "" {
		lo = append(lo, config.WithSharedConfigProfile(cfg.Profile))
	}
	if opts.Credentials != nil {
		lo = append(lo, config.WithCredentialsProvider(opts.Credentials))
	}
	if cfg.Endpoint != "" {
		// S3-compatible stores may not know the CRC checksums the SDK
		// sends by default since 2025; parts carry Content-MD5 instead.
		lo = append(lo,
			config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
			config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return nil, fmt.Errorf("blob store %s: loading the AWS configuration: %w", cfg.where(), err)
	}
	if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("blob store %s: no usable AWS credentials (environment, shared files, profile %q, instance role): %w", cfg.where(), cfg.Profile, err)
	}
	if bounded {
		// Wrapped after LoadDefaultConfig, which applies AWS_CA_BUNDLE to
		// the BuildableClient.
		awsCfg.HTTPClient = stallClient{next: awsCfg.HTTPClient}
	}
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		o.DisableLogOutputChecksumValidationSkipped = true
	}), nil
}

// checkBucket fails clearly for a missing bucket or refused credentials.
func (b *Backend) checkBucket(ctx context.Context) error {
	_, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(b.cfg.Bucket)})
	if err == nil {
		return nil
	}
	ep := b.cfg.Endpoint
	if ep == "" {
		ep = "AWS " + b.cfg.Region
	}
	switch status(err) {
	case http.StatusNotFound:
		return fmt.Errorf("the blob store's bucket %s does not exist at %s: create it first", b.cfg.Bucket, ep)
	case http.StatusForbidden, http.StatusUnauthorized:
		return fmt.Errorf("the blob store at %s refuses access to bucket %s: check the credentials (wrong key or secret) and that they may use the bucket: %w", ep, b.cfg.Bucket, err)
	case http.StatusMovedPermanently:
		return fmt.Errorf("the blob store's bucket %s is not in region %s: set region= in the blob store URL: %w", b.cfg.Bucket, b.cfg.Region, err)
	case http.StatusBadRequest:
		// A HEAD has no body to say why; AWS and versitygw answer a
		// signature scoped to another region so (AWS names the bucket's
		// own in x-amz-bucket-region).
		hint := "set region= in the blob store URL to the store's region"
		if r := bucketRegion(err); r != "" {
			hint = "set region=" + r + " in the blob store URL (the store says the bucket is there)"
		}
		return fmt.Errorf("the blob store at %s answered 400 Bad Request to a request on bucket %s signed for region %s: %s: %w", ep, b.cfg.Bucket, b.cfg.Region, hint, err)
	}
	return fmt.Errorf("blob store %s: checking the bucket: %w", b.cfg.where(), err)
}

// Close releases nothing: the backend holds no resources but idle
// connections. It exists so a server closes every backend alike.
func (b *Backend) Close() error { return nil }

// key returns the object key of a blob.
func (b *Backend) key(id string) string { return b.cfg.Prefix + "blobs/" + id }

// Create starts a new blob under a fresh random ID.
func (b *Backend) Create(ctx context.Context) (storage.Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create blob: %w", err)
	}
	return newWriter(ctx, b, newID()), nil
}

// Open sends a HEAD for the blob's size and ETag and returns a reader
// whose reads are ranged GETs.
func (b *Backend) Open(ctx context.Context, id string) (storage.Blob, error) {
	if !validID(id) {
		return nil, fmt.Errorf("open blob %q: invalid id: %w", id, storage.ErrNotExist)
	}
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(b.key(id))})
	if status(err) == http.StatusNotFound {
		return nil, fmt.Errorf("open blob %s: %w", id, storage.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", id, err)
	}
	return &blob{b: b, id: id, ctx: ctx, size: aws.ToInt64(out.ContentLength), etag: aws.ToString(out.ETag)}, nil
}

// OpenStream is Open for a blob about to be read from its start: one GET
// of the whole blob gives the size and ETag and starts the stream that
// sequential reads then use, which saves Open's HEAD. A read elsewhere
// first costs the bytes the store sent ahead.
func (b *Backend) OpenStream(ctx context.Context, id string) (storage.Blob, error) {
	if !validID(id) {
		return nil, fmt.Errorf("open blob %q: invalid id: %w", id, storage.ErrNotExist)
	}
	if s, err := b.rawGet(ctx, id, 0, ""); !errors.Is(err, errNoRaw) {
		if err != nil {
			return nil, fmt.Errorf("open blob %s: %w", id, err)
		}
		return &blob{b: b, id: id, ctx: ctx, size: s.total, etag: s.etag, body: s}, nil
	}
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(b.key(id))})
	if status(err) == http.StatusNotFound {
		return nil, fmt.Errorf("open blob %s: %w", id, storage.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", id, err)
	}
	return &blob{b: b, id: id, ctx: ctx, size: aws.ToInt64(out.ContentLength), etag: aws.ToString(out.ETag), body: out.Body}, nil
}

// Delete removes a committed blob; a missing one is not an error.
func (b *Backend) Delete(ctx context.Context, id string) error {
	if !validID(id) {
		return fmt.Errorf("delete blob %q: invalid id", id)
	}
	_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(b.key(id))})
	if err != nil && status(err) != http.StatusNotFound {
		return fmt.Errorf("delete blob %s: %w", id, err)
	}
	return nil
}

// Walk lists the committed blobs with their LastModified times. Keys
// under blobs/ that are not blob IDs are skipped.
func (b *Backend) Walk(ctx context.Context, fn func(id string, committed time.Time) error) error {
	prefix := b.cfg.Prefix + "blobs/"
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(b.cfg.Bucket), Prefix: aws.String(prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("walk blobs: %w", err)
		}
		for _, o := range page.Contents {
			id := strings.TrimPrefix(aws.ToString(o.Key), prefix)
			if !validID(id) {
				continue
			}
			if err := fn(id, aws.ToTime(o.LastModified)); err != nil {
				return err
			}
		}
	}
	return nil
}

// SweepUploads aborts the unfinished multipart uploads of blobs started
// before cutoff: what writers that crashed left behind. Uploads younger
// than cutoff may belong to a writer still running, on this node or
// another. It returns how many it aborted.
func (b *Backend) SweepUploads(ctx context.Context, cutoff time.Time) (int, error) {
	prefix := b.cfg.Prefix + "blobs/"
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(b.cfg.Bucket), Prefix: aws.String(prefix)}
	n := 0
	for {
		out, err := b.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return n, fmt.Errorf("sweep unfinished uploads: %w", err)
		}
		for _, u := range out.Uploads {
			if !validID(strings.TrimPrefix(aws.ToString(u.Key), prefix)) || !aws.ToTime(u.Initiated).Before(cutoff) {
				continue
			}
			_, err := b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(b.cfg.Bucket), Key: u.Key, UploadId: u.UploadId,
			})
			if err != nil && status(err) != http.StatusNotFound {
				return n, fmt.Errorf("sweep unfinished uploads: %w", err)
			}
			n++
		}
		if !aws.ToBool(out.IsTruncated) {
			return n, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// PresignGet returns a URL by which anyone may GET the blob until expiry
// passes. contentType and cacheControl, when not empty, become response-*
// overrides, so the store answers with the headers the server would send.
func (b *Backend) PresignGet(ctx context.Context, id string, expiry time.Duration, contentType, cacheControl string) (string, error) {
	if !validID(id) {
		return "", fmt.Errorf("presign blob %q: invalid id", id)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(b.key(id))}
	if contentType != "" {
		in.ResponseContentType = aws.String(contentType)
	}
	if cacheControl != "" {
		in.ResponseCacheControl = aws.String(cacheControl)
	}
	req, err := s3.NewPresignClient(b.client).PresignGetObject(ctx, in, s3.WithPresignExpires(expiry))
	if err != nil {
		return "", fmt.Errorf("presign blob %s: %w", id, err)
	}
	return req.URL, nil
}

// status returns the HTTP status of a failed request, or 0.
func status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchBucket", "NoSuchUpload":
			return http.StatusNotFound
		}
	}
	return 0
}

// bucketRegion returns the x-amz-bucket-region header of an S3 error
// answer, "" without one.
func bucketRegion(err error) string {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.Header.Get("x-amz-bucket-region")
	}
	return ""
}

// newID returns 128 random bits in lowercase hex.
func newID() string {
	var raw [idLen / 2]byte
	rand.Read(raw[:]) // never fails (crypto/rand, Go ≥ 1.24)
	return hex.EncodeToString(raw[:])
}

// validID reports whether id has the form newID produces.
func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// CreateAt starts a new blob under id (storage.Placer), which must have
// the form of this backend's IDs.
func (b *Backend) CreateAt(ctx context.Context, id string) (storage.Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create blob %q: %w", id, err)
	}
	if !validID(id) {
		return nil, fmt.Errorf("create blob %q: invalid id", id)
	}
	return newWriter(ctx, b, id), nil
}
