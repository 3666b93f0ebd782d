package s3store

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/nixbucket/nixbucket/internal/storage"
)

// maxStreamed is the largest blob CreateSized streams in one PutObject:
// S3's limit for a single PUT.
const maxStreamed = 5 << 30

var errAborted = errors.New("blob write aborted")

// CreateSized starts a blob of exactly size bytes (storage.SizedCreator).
// One larger than a part (and within a part's limit) streams as it is
// written into the single part of a multipart upload: no part is held in
// memory, and the store writes it once, where several parts would make it
// assemble them afterwards (bench/scale.sh). A single part rather than a
// PutObject because nothing of an upload is visible before its
// completion: a body cut short (the client went away) leaves nothing,
// even on a store that keeps what a cut PutObject had received (versitygw
// does). Other sizes go as Create's do.
//
// A streamed part cannot carry a Content-MD5 (it would need the bytes
// first), so the writer hashes them as they pass and compares the part's
// ETag, which S3 makes the MD5 of the bytes for data stored unencrypted
// or with SSE-S3; under SSE-KMS or SSE-C it is not, and the check is left
// to the object layer's own hashes.
func (b *Backend) CreateSized(ctx context.Context, size int64) (storage.Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create blob: %w", err)
	}
	id := newID()
	if size <= b.cfg.PartSize || size > maxStreamed {
		return newWriter(ctx, b, id), nil
	}
	key := aws.String(b.key(id))
	up, err := b.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(b.cfg.Bucket), Key: key})
	if err != nil {
		return nil, fmt.Errorf("create blob %s: start upload: %w", id, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	w := &streamWriter{b: b, id: id, size: size, upload: up.UploadId, pw: pw, cancel: cancel, md5: md5.New(), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		out, err := b.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String(b.cfg.Bucket), Key: key, UploadId: up.UploadId, PartNumber: aws.Int32(1),
			Body: onlyReader{pr}, ContentLength: aws.Int64(size),
		}, unsignedPayload)
		w.out, w.err = out, err
		// A part that ended early (refused, cut) stops the writes too.
		pr.CloseWithError(errors.Join(errAborted, err))
	}()
	return w, nil
}

// onlyReader hides the pipe's other methods, so the SDK treats the body
// as the stream it is (it is never rewound: a failed part is not retried).
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// streamWriter feeds the one part of a multipart upload.
type streamWriter struct {
	b      *Backend
	id     string
	size   int64
	n      int64
	upload *string
	pw     *io.PipeWriter
	cancel context.CancelFunc
	md5    hash.Hash
	state  writerState

	done chan struct{} // closed when UploadPart returned
	out  *s3.UploadPartOutput
	err  error
}

func (w *streamWriter) Write(p []byte) (int, error) {
	if w.state != writing {
		return 0, errFinished
	}
	if w.n+int64(len(p)) > w.size {
		return 0, fmt.Errorf("write blob %s: more than the %d bytes announced", w.id, w.size)
	}
	w.md5.Write(p)
	n, err := w.pw.Write(p)
	w.n += int64(n)
	if err != nil {
		<-w.done
		if w.err != nil {
			err = w.err
		}
		return n, fmt.Errorf("write blob %s: %w", w.id, err)
	}
	return n, nil
}

// Commit ends the part, checks it and completes the upload: the blob is
// visible once it returns nil, and never if it fails.
func (w *streamWriter) Commit(ctx context.Context) (string, error) {
	if w.state != writing {
		return "", errFinished
	}
	if err := w.commit(ctx); err != nil {
		w.Abort()
		return "", fmt.Errorf("commit blob %s: %w", w.id, err)
	}
	w.state = committed
	w.cancel()
	return w.id, nil
}

func (w *streamWriter) commit(ctx context.Context) error {
	if w.n != w.size {
		return fmt.Errorf("%d bytes written of the %d announced", w.n, w.size)
	}
	w.pw.Close()
	select {
	case <-w.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if w.err != nil {
		return w.err
	}
	if err := w.checkETag(); err != nil {
		return err
	}
	_, err := w.b.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(w.b.cfg.Bucket), Key: aws.String(w.b.key(w.id)), UploadId: w.upload,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: w.out.ETag}}},
	})
	return err
}

// checkETag compares the part's ETag with the MD5 of the bytes sent,
// where S3 makes one the other.
func (w *streamWriter) checkETag() error {
	o := w.out
	if o.ServerSideEncryption == types.ServerSideEncryptionAwsKms || o.ServerSideEncryption == types.ServerSideEncryptionAwsKmsDsse ||
		aws.ToString(o.SSECustomerAlgorithm) != "" {
		return nil
	}
	got := strings.Trim(aws.ToString(o.ETag), `"`)
	if want := hex.EncodeToString(w.md5.Sum(nil)); !strings.EqualFold(got, want) {
		return fmt.Errorf("the store's ETag %q of the part is not the MD5 %s of the bytes sent", got, want)
	}
	return nil
}

// Abort cuts the part short and aborts the upload: nothing was visible,
// and the store drops what it had. It is a no-op after Commit.
func (w *streamWriter) Abort() error {
	if w.state != writing {
		return nil
	}
	w.state = discarded
	w.pw.CloseWithError(errAborted)
	w.cancel()
	<-w.done
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	_, err := w.b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(w.b.cfg.Bucket), Key: aws.String(w.b.key(w.id)), UploadId: w.upload,
	})
	if err != nil && status(err) != 404 {
		return fmt.Errorf("abort blob %s: %w", w.id, err)
	}
	return nil
}
