package target

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/sync/errgroup"

	"github.com/nixbucket/nixbucket/internal/client/spool"
	"github.com/nixbucket/nixbucket/internal/client/storeurl"
)

// maxParts is S3's limit on the parts of one upload.
const maxParts = 10000

// partConcurrency is how many parts of one upload are sent at once.
const partConcurrency = 4

// abortTimeout bounds the clean-up of an upload after its context ended.
const abortTimeout = 30 * time.Second

// createGrace is how long a multipart upload's creation may go on after
// its context ended, so that its id is known and the upload aborted.
const createGrace = 5 * time.Second

// s3Target is a binary cache in an S3 bucket.
type s3Target struct {
	client  *s3.Client
	bucket  string
	params  storeurl.S3
	desc    string // "s3://BUCKET at ENDPOINT", for messages
	region  string
	keyID   string
	credSrc string
	// presetHash: the endpoint is plain http, where SigV4 signs the payload
	// hash; send the hashes spool computed instead of reading bodies twice.
	presetHash bool
	journal    *journal
	direct     *directPut // nil: every PUT goes through the SDK
	warn       func(string)
	warned     sync.Map
}

func openS3(ctx context.Context, s *storeurl.Store, o Options) (*s3Target, error) {
	p := s.S3
	t := &s3Target{bucket: s.Bucket, params: p, desc: s.String(), region: p.Region, warn: o.Warn,
		presetHash: strings.HasPrefix(p.Endpoint, "http://")}
	// A BuildableClient, not an http.Client: the SDK can only apply
	// AWS_CA_BUNDLE to the former.
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = o.Concurrency * partConcurrency
		wrapConns(tr, o.StallTimeout)
	})
	lo := []func(*config.LoadOptions) error{
		config.WithRegion(p.Region),
		config.WithHTTPClient(httpClient),
		config.WithRetryer(sdkRetryer),
	}
	if p.Profile != "" {
		lo = append(lo, config.WithSharedConfigProfile(p.Profile))
	}
	if p.Endpoint != "" {
		// S3-compatible servers may not know the CRC checksums the SDK
		// sends by default since 2025; send them only where required.
		lo = append(lo,
			config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
			config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	}
	cfg, err := config.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return nil, explainConfig(err, p.Profile)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, explainCredentials(err, p.Profile)
	}
	t.keyID, t.credSrc = creds.AccessKeyID, describeCreds(creds, p.Profile)
	t.client = s3.NewFromConfig(cfg, func(so *s3.Options) {
		if p.Endpoint != "" {
			so.BaseEndpoint = aws.String(p.Endpoint)
		}
		so.UsePathStyle = p.PathStyle()
		so.DisableLogOutputChecksumValidationSkipped = true
	})
	if err := t.checkBucket(ctx); err != nil {
		return nil, err
	}
	if t.presetHash && p.PathStyle() {
		t.direct = newDirectPut(p.Endpoint, s.Bucket, cfg.Credentials, o.StallTimeout)
	}
	targetID := p.Endpoint
	if targetID == "" {
		targetID = "aws:" + p.Region
	}
	t.journal = newJournal(o.StateDir, targetID+"/"+s.Bucket)
	t.recoverUploads(ctx)
	return t, nil
}

// checkBucket fails early, and clearly, for a bucket that does not exist
// or is in another region. A refusal (no s3:ListBucket) is not an error.
func (t *s3Target) checkBucket(ctx context.Context) error {
	_, err := t.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(t.bucket)})
	if err == nil {
		return nil
	}
	code, status := s3Code(err)
	switch {
	case status == 404 || code == "NoSuchBucket":
		return t.explain(&smithyCode{code: "NoSuchBucket", err: err}, "")
	case status == 403:
		return nil // HEAD has no body to tell bad keys from a missing grant; later requests will
	case status == 301:
		return t.explain(err, "")
	case status == 400:
		// A HEAD answer has no body to say why (a signature for another
		// region, on a server that checks it): a GET's error has a code.
		if _, gerr := t.client.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(t.bucket)}); gerr != nil {
			// Only the GET's own 400 explains the HEAD's: another answer
			// (AccessDenied for a key without s3:GetBucketLocation) is
			// about the GET.
			if c, st := s3Code(gerr); st == 400 && c != "" && c != "BadRequest" {
				return t.explain(gerr, "")
			}
		}
	}
	return t.explain(err, "")
}

// smithyCode gives an error the S3 code a HEAD response could not carry.
type smithyCode struct {
	code string
	err  error
}

func (e *smithyCode) Error() string                 { return e.err.Error() }
func (e *smithyCode) Unwrap() error                 { return e.err }
func (e *smithyCode) ErrorCode() string             { return e.code }
func (e *smithyCode) ErrorMessage() string          { return e.err.Error() }
func (e *smithyCode) ErrorFault() smithy.ErrorFault { return smithy.FaultUnknown }

func (t *s3Target) String() string { return t.desc }

func (t *s3Target) Close() error {
	t.journal.close()
	return nil
}

// warnOnce passes a warning on the first time its kind occurs.
func (t *s3Target) warnOnce(kind, msg string) {
	if _, dup := t.warned.LoadOrStore(kind, true); !dup {
		t.warn(msg)
	}
}

func (t *s3Target) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := t.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(t.bucket), Key: aws.String(key)})
	if err != nil {
		if isNotFound(err) {
			return nil, ErrNotFound
		}
		return nil, t.explain(err, key)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading s3://%s/%s: %w", t.bucket, key, err)
	}
	return b, nil
}

func (t *s3Target) Stat(ctx context.Context, key string) (int64, error) {
	out, err := t.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(t.bucket), Key: aws.String(key)})
	if err != nil {
		if _, status := s3Code(err); status == 403 {
			t.warnOnce("head403", fmt.Sprintf("%s refuses HEAD requests (no s3:GetObject?); files are taken as missing and uploaded again", t.desc))
		}
		if isNotFound(err) {
			return 0, ErrNotFound
		}
		return 0, t.explain(err, key)
	}
	return aws.ToInt64(out.ContentLength), nil
}

// PartSize returns the part size for a file of at most maxSize bytes: the
// store URL's chunk size, grown (in MiB steps) so that the file fits in
// 10,000 parts. It returns 0 when no part hashes are needed (https
// endpoints send unsigned payloads) or the file goes in one PUT.
func (t *s3Target) PartSize(maxSize int64) int64 {
	if !t.presetHash || !t.params.MultipartUpload || maxSize < t.params.MultipartThreshold {
		return 0
	}
	return t.partSize(maxSize)
}

func (t *s3Target) partSize(size int64) int64 {
	ps := t.params.ChunkSize
	if (size+ps-1)/ps > maxParts {
		ps = (size + maxParts - 1) / maxParts
		ps = (ps + 1<<20 - 1) &^ (1<<20 - 1)
	}
	return ps
}

func (t *s3Target) Put(ctx context.Context, key string, f *spool.File, m Meta) error {
	if !t.params.MultipartUpload || f.Size() < t.params.MultipartThreshold {
		if f.Size() > 5<<30 {
			return fmt.Errorf("%s is %d bytes, over S3's 5 GiB limit for one PUT: remove multipart-upload=false from the store URL", key, f.Size())
		}
		return t.putObject(ctx, key, f, m)
	}
	if err := t.multipart(ctx, key, f, m); err != nil {
		return err
	}
	t.abortStale(ctx, key, "")
	return nil
}

// payloadHash is an API option that signs the request with a known
// payload SHA-256 instead of reading the body to compute it.
func payloadHash(sum [32]byte) func(*s3.Options) {
	h := hex.EncodeToString(sum[:])
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("nixbucketPayloadHash",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					return next.HandleInitialize(v4.SetPayloadHash(ctx, h), in)
				}), middleware.After)
		})
	}
}

func (t *s3Target) hashOpt(f *spool.File, off, n int64) []func(*s3.Options) {
	if !t.presetHash {
		return nil
	}
	if sum, ok := f.SectionSHA256(off, n); ok {
		return []func(*s3.Options){payloadHash(sum)}
	}
	return nil
}

func (t *s3Target) putObject(ctx context.Context, key string, f *spool.File, m Meta) error {
	if sum, ok := f.SectionSHA256(0, f.Size()); ok && t.direct != nil && t.params.StorageClass == "" {
		if err := t.direct.put(ctx, t.region, key, f, sum, m); err != nil {
			return t.explain(err, key)
		}
		if m.Progress != nil {
			m.Progress(f.Size())
		}
		return nil
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(t.bucket),
		Key:           aws.String(key),
		Body:          f.Section(0, f.Size()),
		ContentLength: aws.Int64(f.Size()),
		ContentType:   aws.String(m.ContentType),
	}
	if m.ContentEncoding != "" {
		in.ContentEncoding = aws.String(m.ContentEncoding)
	}
	if t.params.StorageClass != "" {
		in.StorageClass = types.StorageClass(t.params.StorageClass)
	}
	if _, err := t.client.PutObject(ctx, in, t.hashOpt(f, 0, f.Size())...); err != nil {
		return t.explain(err, key)
	}
	if m.Progress != nil {
		m.Progress(f.Size())
	}
	return nil
}

// multipart uploads f in parts, partConcurrency at a time, and aborts the
// upload if anything fails or ctx ends.
func (t *s3Target) multipart(ctx context.Context, key string, f *spool.File, m Meta) (err error) {
	in := &s3.CreateMultipartUploadInput{
		Bucket:      aws.String(t.bucket),
		Key:         aws.String(key),
		ContentType: aws.String(m.ContentType),
	}
	if m.ContentEncoding != "" {
		in.ContentEncoding = aws.String(m.ContentEncoding)
	}
	if t.params.StorageClass != "" {
		in.StorageClass = types.StorageClass(t.params.StorageClass)
	}
	if jerr := t.journal.creating(key); jerr != nil {
		t.warnOnce("journal", fmt.Sprintf("%v; a killed push may leave multipart uploads behind", jerr))
	}
	// The creation outlives ctx by up to createGrace: a request cancelled
	// after the server created the upload would leave it behind unknown,
	// so wait for the id, then abort it if ctx ended meanwhile.
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(createGrace, cancel) })
	created, err := t.client.CreateMultipartUpload(cctx, in)
	stop()
	cancel()
	if err != nil {
		return t.explain(err, key)
	}
	id := aws.ToString(created.UploadId)
	if jerr := t.journal.started(key, id); jerr != nil {
		t.warnOnce("journal", fmt.Sprintf("%v; a killed push may leave multipart uploads behind", jerr))
	}
	defer func() {
		if err != nil {
			t.abort(ctx, key, id)
		}
	}()
	if err := ctx.Err(); err != nil {
		return err
	}

	size := f.Size()
	ps := t.partSize(size)
	if bs := f.BlockSize(); t.presetHash && bs >= ps && (size+bs-1)/bs <= maxParts {
		ps = bs // the size spool hashed parts in
	}
	n := int((size + ps - 1) / ps)
	parts := make([]types.CompletedPart, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(partConcurrency)
	for i := range n {
		off := int64(i) * ps
		length := min(ps, size-off)
		g.Go(func() error {
			num := aws.Int32(int32(i + 1))
			res, err := t.client.UploadPart(gctx, &s3.UploadPartInput{
				Bucket: aws.String(t.bucket), Key: aws.String(key), UploadId: aws.String(id),
				PartNumber: num, Body: f.Section(off, length), ContentLength: aws.Int64(length),
			}, t.hashOpt(f, off, length)...)
			if err != nil {
				return t.explain(err, key)
			}
			parts[i] = types.CompletedPart{ETag: res.ETag, PartNumber: num}
			if m.Progress != nil {
				m.Progress(length)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if t.completedElsewhere(ctx, key, size, err) {
			return nil
		}
		return err
	}
	_, err = t.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(t.bucket), Key: aws.String(key), UploadId: aws.String(id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		if t.completedElsewhere(ctx, key, size, err) {
			return nil
		}
		return t.explain(err, key)
	}
	t.journal.finished(id)
	return nil
}

// completedElsewhere reports whether an upload that failed with
// NoSuchUpload was aborted by another push that stored the same file: the
// key names the file's hash, so if it exists with our size, it is ours.
func (t *s3Target) completedElsewhere(ctx context.Context, key string, size int64, err error) bool {
	if code, _ := s3Code(err); code != "NoSuchUpload" {
		return false
	}
	got, serr := t.Stat(ctx, key)
	return serr == nil && got == size
}

// abort aborts an upload, even after ctx ended, and drops it from the
// journal; if that fails the journal keeps it for the next run.
func (t *s3Target) abort(ctx context.Context, key, id string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	_, err := t.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(t.bucket), Key: aws.String(key), UploadId: aws.String(id),
	})
	if code, _ := s3Code(err); err == nil || code == "NoSuchUpload" {
		t.journal.finished(id) // the journal is best effort: append errors were reported at started
		return
	}
	t.warn(fmt.Sprintf("could not abort the multipart upload %s of %s (the next push will): %v", id, key, t.explain(err, key)))
}

// abortStale aborts every unfinished multipart upload of key but keep:
// the key names a file by its hash, so once it is stored, any other upload
// of it is redundant — one left by a killed run, or a concurrent push's
// (which then finds the file in place; see completedElsewhere).
func (t *s3Target) abortStale(ctx context.Context, key, keep string) {
	out, err := t.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{
		Bucket: aws.String(t.bucket), Prefix: aws.String(key),
	})
	if err != nil {
		t.warnOnce("list-uploads", fmt.Sprintf("cannot list multipart uploads, so stale ones are not cleaned up: %v", t.explain(err, key)))
		return
	}
	for _, u := range out.Uploads {
		if aws.ToString(u.Key) == key && aws.ToString(u.UploadId) != keep {
			t.abort(ctx, key, aws.ToString(u.UploadId))
		}
	}
}

// recoverUploads aborts the uploads that earlier, killed runs left in the
// journal. Failures are kept in this run's journal, for the next one.
func (t *s3Target) recoverUploads(ctx context.Context) {
	stale, pending, done, err := t.journal.recover()
	if err != nil {
		t.warn(fmt.Sprintf("reading the multipart journal: %v", err))
		return
	}
	for _, s := range stale {
		if jerr := t.journal.started(s.key, s.uploadID); jerr != nil {
			t.warnOnce("journal", fmt.Sprintf("%v; a killed push may leave multipart uploads behind", jerr))
		}
		t.abort(ctx, s.key, s.uploadID)
	}
	// A killed run may have created an upload of these keys without
	// learning its id.
	for _, key := range pending {
		t.abortStale(ctx, key, "")
	}
	done()
}
