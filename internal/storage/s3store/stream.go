package s3store

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
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

// maxPut is the largest blob CreateSized sends as one PutObject rather
// than as the single part of a multipart upload: an aborted PutObject is
// completed with zeros before it is deleted (abortPut), which must stay
// cheap, while a multipart upload costs stores that assemble parts by
// copying them (versitygw) a second write of every byte.
const maxPut = 128 << 20

var errAborted = errors.New("blob write aborted")

// CreateSized starts a blob of exactly size bytes (storage.SizedCreator),
// streamed to the store as it is written: no part is held in memory, and
// the store receives the bytes while the client still sends them, so a
// PUT through the server costs little more time than one straight to the
// store (bench/scale.sh).
//
// A blob of up to maxPut (or a part, if larger) goes as one PutObject.
// One larger (within a part's limit) goes into the single part of a
// multipart upload, so that the store writes it once, where several parts
// would make it assemble them afterwards, and so that nothing of it is
// visible before its completion. (A store that assembles even a single
// part by copying it, as versitygw does, spent a fifth more CPU on a
// 64 MiB blob sent that way than as a PutObject.) A PutObject cut short (the client went away) leaves nothing
// on AWS, but some stores (versitygw) keep what it had received: Abort
// and a failed Commit then delete the object, and what a crash leaves is
// an unreferenced blob that the sweep of a shared blob store removes once
// it is old enough (internal/jobs). Blobs over 5 GiB go as Create's do.
//
// A streamed body cannot carry a Content-MD5 (it would need the bytes
// first), so the writer compares the store's ETag with the MD5 of the
// bytes sent, which S3 makes the ETag of a PutObject or a part for data
// stored unencrypted or with SSE-S3; under SSE-KMS or SSE-C it is not,
// and the check is left to the object layer's own hashes. The MD5 is the
// writer's own, or the caller's (storage.MD5Committer: the object layer
// hashes every body with MD5 anyway, for its ETag, and a second pass cost
// a third of the server's CPU on a PUT). Or there is none: a writer told
// the SHA-256 the client signed (storage.StoreVerifier) has the store
// check it and takes the store's ETag as the MD5 (verify.go). So the
// request starts at the first Write, once the caller has said which.
func (b *Backend) CreateSized(ctx context.Context, size int64) (storage.Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create blob: %w", err)
	}
	id := newID()
	if size <= 0 || size > maxStreamed {
		return newWriter(ctx, b, id), nil
	}
	key := aws.String(b.key(id))
	var upload *string
	if size > max(b.cfg.PartSize, maxPut) {
		up, err := b.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(b.cfg.Bucket), Key: key})
		if err != nil {
			return nil, fmt.Errorf("create blob %s: start upload: %w", id, err)
		}
		upload = up.UploadId
	}
	ctx, cancel := context.WithCancel(ctx)
	return &streamWriter{b: b, ctx: ctx, id: id, size: size, upload: upload, cancel: cancel, md5: md5.New(), done: make(chan struct{})}, nil
}

// start sends the request, whose body the writes then feed: at the first
// write, once the caller had its say on how the body is signed
// (StoreVerifies). A PutObject to a plain http store goes by hand
// (rawput.go), anything else through the SDK.
func (w *streamWriter) start() error {
	b, ctx, key := w.b, w.ctx, aws.String(w.b.key(w.id))
	if w.upload == nil {
		hash := "UNSIGNED-PAYLOAD"
		if w.sha256 != nil {
			hash = hex.EncodeToString(w.sha256)
		}
		r, err := b.startRawPut(ctx, w.id, w.size, hash)
		if err == nil {
			w.raw = r
			return nil
		}
		if !errors.Is(err, errNoRaw) {
			return err
		}
	}
	sign := unsignedPayload
	if w.sha256 != nil {
		sign = signedWith(w.sha256)
	}
	pr, pw := io.Pipe()
	w.pw = pw
	go func() {
		defer close(w.done)
		if w.upload != nil {
			out, err := b.client.UploadPart(ctx, &s3.UploadPartInput{
				Bucket: aws.String(b.cfg.Bucket), Key: key, UploadId: w.upload, PartNumber: aws.Int32(1),
				Body: onlyReader{pr}, ContentLength: aws.Int64(w.size),
			}, sign)
			if err == nil {
				w.sent = sent{etag: out.ETag, sse: out.ServerSideEncryption, ssec: out.SSECustomerAlgorithm}
			}
			w.err = err
		} else {
			out, err := b.client.PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String(b.cfg.Bucket), Key: key,
				Body: onlyReader{pr}, ContentLength: aws.Int64(w.size),
			}, sign)
			if err == nil {
				w.sent = sent{etag: out.ETag, sse: out.ServerSideEncryption, ssec: out.SSECustomerAlgorithm}
			}
			w.err = err
		}
		w.err = w.digestRefusal(w.err)
		// A request that ended early (refused, cut) stops the writes too.
		pr.CloseWithError(errors.Join(errAborted, w.err))
	}()
	return nil
}

// started reports whether the request went out (at the first write).
func (w *streamWriter) started() bool { return w.pw != nil || w.raw != nil }

// onlyReader hides the pipe's other methods, so the SDK treats the body
// as the stream it is (it is never rewound: a failed part is not retried).
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// streamWriter feeds one PutObject, or the one part of a multipart
// upload (upload set).
type streamWriter struct {
	b      *Backend
	ctx    context.Context // the request's
	id     string
	size   int64
	n      int64
	upload *string        // nil: a PutObject
	pw     *io.PipeWriter // the SDK's request's body; nil until the first write starts the request
	raw    *rawPut        // or the request sent by hand (rawput.go)
	cancel context.CancelFunc
	md5    hash.Hash // nil once the caller said it hashes (SkipMD5) or the store does (StoreVerifies)
	sha256 []byte    // the SHA-256 the request is signed with and the store checks; nil: UNSIGNED-PAYLOAD
	state  writerState

	done chan struct{} // closed when the request returned
	sent sent
	err  error
}

// sent is what the store answered for the bytes.
type sent struct {
	etag *string
	sse  types.ServerSideEncryption
	ssec *string
}

// SkipMD5 is storage.MD5Committer's: the caller hashes the bytes.
func (w *streamWriter) SkipMD5() {
	if !w.started() {
		w.md5 = nil
	}
}

// StoreVerifies is storage.StoreVerifier's: the request goes signed with
// sum, which the store checks, if it has shown it does (verify.go).
func (w *streamWriter) StoreVerifies(ctx context.Context, sum []byte) bool {
	if w.started() || w.state != writing || len(sum) != sha256.Size || !w.b.storeVerifies(ctx) {
		return false
	}
	w.sha256, w.md5 = sum, nil
	return true
}

func (w *streamWriter) Write(p []byte) (int, error) {
	if w.state != writing {
		return 0, errFinished
	}
	if w.n+int64(len(p)) > w.size {
		return 0, fmt.Errorf("write blob %s: more than the %d bytes announced", w.id, w.size)
	}
	if w.md5 != nil {
		w.md5.Write(p)
	}
	if !w.started() {
		if err := w.start(); err != nil {
			return 0, err
		}
	}
	n, err := w.out(p)
	w.n += int64(n)
	return n, err
}

// out sends p to the store.
func (w *streamWriter) out(p []byte) (int, error) {
	if w.raw != nil {
		n, err := w.raw.write(p)
		if err != nil {
			w.err = w.digestRefusal(err)
			return n, w.err
		}
		return n, nil
	}
	n, err := w.pw.Write(p)
	if err != nil {
		<-w.done
		if w.err != nil {
			err = w.err
		}
		return n, fmt.Errorf("write blob %s: %w", w.id, err)
	}
	return n, nil
}

// digestRefusal marks the store's refusal of a body that does not match
// the SHA-256 it was signed with.
func (w *streamWriter) digestRefusal(err error) error {
	if w.sha256 != nil && isDigestRefusal(err) {
		return fmt.Errorf("%w: %w", storage.ErrSHA256Mismatch, err)
	}
	return err
}

// Commit ends the body, checks it and completes the upload: the blob is
// visible once it returns nil, and never if it fails.
func (w *streamWriter) Commit(ctx context.Context) (string, error) {
	if w.sha256 != nil {
		id, _, err := w.CommitVerified(ctx)
		return id, err
	}
	if w.md5 == nil {
		w.Abort()
		return "", fmt.Errorf("commit blob %s: the caller hashes, so must commit with CommitMD5", w.id)
	}
	return w.CommitMD5(ctx, w.md5.Sum(nil))
}

// CommitMD5 is Commit given the MD5 of the bytes (storage.MD5Committer).
func (w *streamWriter) CommitMD5(ctx context.Context, sum []byte) (string, error) {
	if w.state != writing {
		return "", errFinished
	}
	if w.sha256 != nil {
		w.Abort()
		return "", fmt.Errorf("commit blob %s: the store checks the bytes, so must commit with CommitVerified", w.id)
	}
	if err := w.commit(ctx, sum); err != nil {
		w.Abort()
		return "", fmt.Errorf("commit blob %s: %w", w.id, err)
	}
	w.state = committed
	w.cancel()
	return w.id, nil
}

// CommitVerified is storage.StoreVerifier's: Commit once the store has
// checked the bytes against the SHA-256 given to StoreVerifies, which
// returns their MD5: the store's ETag, or if the store's answer is not
// one after all (its bucket went to SSE-KMS since the probe), the MD5 of
// the blob read back.
func (w *streamWriter) CommitVerified(ctx context.Context) (string, []byte, error) {
	if w.state != writing {
		return "", nil, errFinished
	}
	if w.sha256 == nil {
		w.Abort()
		return "", nil, fmt.Errorf("commit blob %s: CommitVerified without StoreVerifies", w.id)
	}
	sum, err := w.commitVerified(ctx)
	if err != nil {
		w.Abort()
		return "", nil, fmt.Errorf("commit blob %s: %w", w.id, err)
	}
	w.state = committed
	w.cancel()
	return w.id, sum, nil
}

func (w *streamWriter) commitVerified(ctx context.Context) ([]byte, error) {
	if err := w.send(ctx); err != nil {
		return nil, err
	}
	sum, ok := etagMD5(w.sent.etag, w.sent.sse, w.sent.ssec)
	if err := w.complete(ctx); err != nil {
		return nil, err
	}
	if !ok {
		return w.b.md5Of(ctx, w.id)
	}
	return sum, nil
}

// send ends the body and waits for the store's answer.
func (w *streamWriter) send(ctx context.Context) error {
	if w.n != w.size {
		return fmt.Errorf("%d bytes written of the %d announced", w.n, w.size)
	}
	if w.raw != nil {
		if w.err == nil {
			w.sent, w.err = w.raw.finish()
			w.err = w.digestRefusal(w.err)
		}
		return w.err
	}
	w.pw.Close()
	select {
	case <-w.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return w.err
}

func (w *streamWriter) commit(ctx context.Context, sum []byte) error {
	if err := w.send(ctx); err != nil {
		return err
	}
	if err := w.checkETag(sum); err != nil {
		return err
	}
	return w.complete(ctx)
}

// complete completes the multipart upload of a blob sent as its part.
func (w *streamWriter) complete(ctx context.Context) error {
	if w.upload == nil {
		return nil
	}
	_, err := w.b.client.CompleteMultipartUpload(completing(ctx), &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(w.b.cfg.Bucket), Key: aws.String(w.b.key(w.id)), UploadId: w.upload,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: w.sent.etag}}},
	})
	return err
}

// checkETag compares the store's ETag with the MD5 of the bytes sent,
// where S3 makes one the other.
func (w *streamWriter) checkETag(sum []byte) error {
	o := w.sent
	if o.sse == types.ServerSideEncryptionAwsKms || o.sse == types.ServerSideEncryptionAwsKmsDsse || aws.ToString(o.ssec) != "" {
		return nil
	}
	got := strings.Trim(aws.ToString(o.etag), `"`)
	if want := hex.EncodeToString(sum); !strings.EqualFold(got, want) {
		return fmt.Errorf("the store's ETag %q is not the MD5 %s of the bytes sent", got, want)
	}
	return nil
}

// Abort cuts the body short and aborts the upload: nothing was visible,
// and the store drops what it had. A PutObject is completed (see
// abortPut), then its object deleted. It is a no-op after Commit.
func (w *streamWriter) Abort() error {
	if w.state != writing {
		return nil
	}
	w.state = discarded
	if !w.started() { // nothing sent
		w.cancel()
		if w.upload == nil {
			return nil
		}
	} else if w.upload == nil {
		return w.abortPut()
	} else {
		w.pw.CloseWithError(errAborted)
		w.cancel()
		<-w.done
	}
	ctx, cancel := w.cleanupContext()
	defer cancel()
	_, err := w.b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(w.b.cfg.Bucket), Key: aws.String(w.b.key(w.id)), UploadId: w.upload,
	})
	if err != nil && status(err) != 404 {
		return fmt.Errorf("abort blob %s: %w", w.id, err)
	}
	return nil
}

// cleanupContext is the context of an abort's requests: the request's
// values (its stall.Bound: a stalled store leaves the garbage to the
// sweep rather than hold the request), not its cancellation, and
// cleanupTimeout.
func (w *streamWriter) cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(w.ctx), cleanupTimeout)
}

// abortPut ends a PutObject that must leave nothing. Cutting its body
// would be enough on AWS, but a store that keeps a cut body (versitygw)
// may finish writing it after the client gave up, and so after a delete
// sent then. So the body is completed with zeros (at most a part), the
// request awaited, and only then is the object deleted; a request that
// fails meanwhile ends the padding, and whatever a store keeps of it is
// an unreferenced blob that the sweep of a shared store removes.
func (w *streamWriter) abortPut() error {
	zeros := make([]byte, min(64<<10, w.size-w.n))
	for w.n < w.size {
		n, err := w.out(zeros[:min(int64(len(zeros)), w.size-w.n)])
		w.n += int64(n)
		if err != nil {
			break
		}
	}
	if w.raw != nil {
		if w.err == nil {
			w.raw.finish()
		}
		w.raw.close()
	} else {
		w.pw.Close()
		<-w.done
	}
	w.cancel()
	ctx, cancel := w.cleanupContext()
	defer cancel()
	if err := w.b.Delete(ctx, w.id); err != nil {
		return fmt.Errorf("abort blob %s: %w", w.id, err)
	}
	return nil
}
