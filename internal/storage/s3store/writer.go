package s3store

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

var errFinished = errors.New("blob writer already committed or aborted")

// unsignedPayload signs a PUT of bytes without hashing them with SHA-256
// first, which the SDK otherwise does over plain http: their Content-MD5,
// which the store checks, already guards them, and a second hash of every
// byte would cost as much CPU as the rest of the upload.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

type writerState int

const (
	writing writerState = iota
	committed
	discarded
)

// writer buffers a blob's bytes one part at a time. The first full part
// starts a multipart upload; each full part is then sent in the
// background, at most PartsInFlight at once, while the next one fills.
type writer struct {
	b     *Backend
	id    string
	ctx   context.Context // Create's: the parts' requests run under it
	stop  context.CancelFunc
	buf   []byte // the part being filled
	state writerState

	uploadID string        // "" until the first part is full
	sem      chan struct{} // one token per part in flight
	free     chan []byte   // buffers of parts sent
	wg       sync.WaitGroup
	mu       sync.Mutex
	parts    []types.CompletedPart
	err      error // first failure; the writer is unusable after one
	bufs     int   // part buffers made, for the test of bounded memory
}

func newWriter(ctx context.Context, b *Backend, id string) *writer {
	ctx, stop := context.WithCancel(ctx)
	return &writer{b: b, id: id, ctx: ctx, stop: stop,
		sem:  make(chan struct{}, b.cfg.PartsInFlight),
		free: make(chan []byte, b.cfg.PartsInFlight+1),
	}
}

func (w *writer) usable() error {
	if w.state != writing {
		return errFinished
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *writer) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

// Write appends p to the current part, sending each part as it fills.
func (w *writer) Write(p []byte) (int, error) {
	if err := w.usable(); err != nil {
		return 0, err
	}
	total := 0
	for len(p) > 0 {
		if w.buf == nil {
			w.buf = w.newBuf()
		}
		room := int(w.b.cfg.PartSize) - len(w.buf)
		c := min(room, len(p))
		if cap(w.buf)-len(w.buf) < c { // grow by doubling, never past a part
			w.buf = slices.Grow(w.buf, min(max(2*cap(w.buf), len(w.buf)+c), int(w.b.cfg.PartSize))-len(w.buf))
		}
		w.buf = append(w.buf, p[:c]...)
		total += c
		p = p[c:]
		if len(w.buf) == int(w.b.cfg.PartSize) {
			if err := w.sendPart(); err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// ReadFrom reads r into part buffers, so io.Copy does not go through a
// 32 KiB buffer of its own.
func (w *writer) ReadFrom(r io.Reader) (int64, error) {
	if err := w.usable(); err != nil {
		return 0, err
	}
	size := int(w.b.cfg.PartSize)
	var total int64
	for {
		if len(w.buf) == size {
			if err := w.sendPart(); err != nil {
				return total, err
			}
		}
		if w.buf == nil {
			w.buf = w.newBuf()
		}
		if len(w.buf) == cap(w.buf) {
			w.buf = slices.Grow(w.buf, min(max(cap(w.buf), 64<<10), size-len(w.buf)))
		}
		m, err := r.Read(w.buf[len(w.buf):min(cap(w.buf), size)])
		w.buf = w.buf[:len(w.buf)+m]
		total += int64(m)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// newBuf returns a spare part buffer, or a small new one that append grows.
func (w *writer) newBuf() []byte {
	select {
	case b := <-w.free:
		return b[:0]
	default:
		w.bufs++
		return make([]byte, 0, 64<<10)
	}
}

// sendPart starts the multipart upload if needed and sends the full
// current part in the background.
func (w *writer) sendPart() error {
	if w.uploadID == "" {
		out, err := w.b.client.CreateMultipartUpload(w.ctx, &s3.CreateMultipartUploadInput{
			Bucket: aws.String(w.b.cfg.Bucket), Key: aws.String(w.b.key(w.id)),
		})
		if err != nil {
			err = fmt.Errorf("write blob %s: start upload: %w", w.id, err)
			w.fail(err)
			return err
		}
		w.uploadID = aws.ToString(out.UploadId)
	}
	select {
	case w.sem <- struct{}{}:
	case <-w.ctx.Done():
		err := fmt.Errorf("write blob %s: %w", w.id, w.ctx.Err())
		w.fail(err)
		return err
	}
	if err := w.usable(); err != nil {
		<-w.sem
		return err
	}
	part, num := w.buf, int32(len(w.parts)+1)
	w.mu.Lock()
	w.parts = append(w.parts, types.CompletedPart{PartNumber: aws.Int32(num)})
	w.mu.Unlock()
	w.buf = w.newBuf()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() { <-w.sem }()
		sum := md5.Sum(part)
		out, err := w.b.client.UploadPart(w.ctx, &s3.UploadPartInput{
			Bucket: aws.String(w.b.cfg.Bucket), Key: aws.String(w.b.key(w.id)),
			UploadId: aws.String(w.uploadID), PartNumber: aws.Int32(num),
			Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part))),
			ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
		}, unsignedPayload)
		select {
		case w.free <- part:
		default:
		}
		if err != nil {
			w.fail(fmt.Errorf("write blob %s: part %d: %w", w.id, num, err))
			return
		}
		w.mu.Lock()
		w.parts[num-1].ETag = out.ETag
		w.mu.Unlock()
	}()
	return nil
}

// Commit sends what is left and makes the blob visible: one PutObject for
// a blob smaller than a part, else the last part and
// CompleteMultipartUpload. On failure nothing is visible and Abort is a
// no-op.
func (w *writer) Commit(ctx context.Context) (string, error) {
	return w.CommitMD5(ctx, nil)
}

// SkipMD5 is storage.MD5Committer's. The writer hashes each part as it
// sends it, for its Content-MD5; only a blob sent whole at Commit can use
// the caller's sum instead, and CommitMD5 does.
func (w *writer) SkipMD5() {}

// CommitMD5 is Commit given the MD5 of all the bytes, or nil.
func (w *writer) CommitMD5(ctx context.Context, sum []byte) (string, error) {
	if w.state != writing {
		return "", errFinished
	}
	if err := w.commit(ctx, sum); err != nil {
		w.discard()
		return "", fmt.Errorf("commit blob %s: %w", w.id, err)
	}
	w.state = committed
	w.buf = nil
	w.stop()
	return w.id, nil
}

func (w *writer) commit(ctx context.Context, sum []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.uploadID == "" {
		if err := w.usable(); err != nil {
			return err
		}
		if sum == nil {
			s := md5.Sum(w.buf)
			sum = s[:]
		}
		_, err := w.b.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(w.b.cfg.Bucket), Key: aws.String(w.b.key(w.id)),
			Body: bytes.NewReader(w.buf), ContentLength: aws.Int64(int64(len(w.buf))),
			ContentMD5: aws.String(base64.StdEncoding.EncodeToString(sum)),
		}, unsignedPayload)
		return err
	}
	if len(w.buf) > 0 {
		if err := w.sendPart(); err != nil {
			return err
		}
	}
	w.wg.Wait()
	if err := w.usable(); err != nil {
		return err
	}
	_, err := w.b.client.CompleteMultipartUpload(completing(ctx), &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(w.b.cfg.Bucket), Key: aws.String(w.b.key(w.id)),
		UploadId:        aws.String(w.uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: w.parts},
	})
	return err
}

// Abort discards the blob: it waits for the parts in flight and aborts
// the multipart upload. It is a no-op after Commit.
func (w *writer) Abort() error {
	if w.state != writing {
		return nil
	}
	return w.discard()
}

func (w *writer) discard() error {
	w.state = discarded
	w.fail(errFinished)
	w.stop() // parts in flight need not finish
	w.wg.Wait()
	w.buf = nil
	if w.uploadID == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), cleanupTimeout)
	defer cancel()
	_, err := w.b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(w.b.cfg.Bucket), Key: aws.String(w.b.key(w.id)), UploadId: aws.String(w.uploadID),
	})
	if err != nil && status(err) != 404 {
		return fmt.Errorf("abort blob %s: %w", w.id, err)
	}
	return nil
}
