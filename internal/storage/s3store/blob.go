package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// blob reads a committed blob with ranged GETs conditional on the ETag
// Open saw. One open-ended GET is kept streaming for sequential reads,
// whether through Read or through ReadAt at the offset the last one
// ended; any other ReadAt asks for exactly its range.
type blob struct {
	b    *Backend
	id   string
	ctx  context.Context
	size int64
	etag string

	off int64 // for Read and Seek; guarded by mu

	mu     sync.Mutex    // guards the stream and off
	body   io.ReadCloser // the open-ended GET, nil if none
	bodyAt int64         // offset of the next byte body gives
}

// Size returns the blob's length as the store reported it.
func (r *blob) Size() int64 { return r.size }

// Read reads from the current offset.
func (r *blob) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.off >= r.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.size-r.off)]
	n, err := r.streamAt(p, r.off)
	r.off += int64(n)
	return n, err
}

// Seek sets the offset for the next Read.
func (r *blob) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, errors.New("s3store: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("s3store: negative offset")
	}
	r.off = offset
	return offset, nil
}

// ReadAt reads len(p) bytes at off, from the stream when it is there and
// free, else with a GET of just that range.
func (r *blob) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("s3store: negative offset")
	}
	if off >= r.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	want := len(p)
	p = p[:min(int64(len(p)), r.size-off)]
	var n int
	var err error
	if r.mu.TryLock() {
		n, err = r.streamAt(p, off)
		r.mu.Unlock()
	} else {
		n, err = r.rangeAt(p, off)
	}
	if err == nil && n < want {
		err = io.EOF
	}
	return n, err
}

// streamAt fills p from the open-ended GET, (re)opening it at off when
// it is elsewhere. The caller holds mu.
func (r *blob) streamAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.body != nil && r.bodyAt != off {
		r.body.Close()
		r.body = nil
	}
	if r.body == nil {
		body, err := r.stream(off)
		if err != nil {
			r.cut(off, err)
			return 0, err
		}
		r.body, r.bodyAt = body, off
	}
	n, err := io.ReadFull(r.body, p)
	r.bodyAt += int64(n)
	if err != nil {
		r.body.Close()
		r.body = nil
		return n, r.short(err)
	}
	return n, nil
}

// rangeAt fills p with a GET of exactly its range.
func (r *blob) rangeAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	body, err := r.get(off, off+int64(len(p))-1)
	if err != nil {
		r.cut(off, err)
		return 0, err
	}
	defer body.Close()
	n, err := io.ReadFull(body, p)
	if err != nil {
		return n, r.short(err)
	}
	return n, nil
}

// short explains a body that ended before the size Open saw.
func (r *blob) short(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = fmt.Errorf("read blob %s: the store sent fewer bytes than its size %d: %w", r.id, r.size, io.ErrUnexpectedEOF)
	} else {
		err = fmt.Errorf("read blob %s: %w", r.id, err)
	}
	r.cut(r.bodyAt, err)
	return err
}

// cut logs a read of the blob that the store broke off, or refused to go
// on with, at offset at: the client's answer, already under way, is cut
// short too (never completed with other bytes), and nothing else would
// say why. A read its caller gave up on (the client went away) is not the
// store's doing.
func (r *blob) cut(at int64, err error) {
	if r.ctx.Err() != nil {
		return
	}
	slog.Warn("blob store: a read was cut off", "blob", r.id, "at", at, "size", r.size, "err", err)
}

// get sends a GET for bytes from..to (to < 0: to the end), only if the
// blob still has the ETag Open saw.
func (r *blob) get(from, to int64) (io.ReadCloser, error) {
	rng := fmt.Sprintf("bytes=%d-", from)
	if to >= 0 {
		rng += fmt.Sprint(to)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(r.b.cfg.Bucket), Key: aws.String(r.b.key(r.id)), Range: aws.String(rng)}
	if r.etag != "" {
		in.IfMatch = aws.String(r.etag)
	}
	out, err := r.b.client.GetObject(r.ctx, in)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", r.id, err)
	}
	return out.Body, nil
}

// stream opens an open-ended GET from off: by hand where the socket can
// be spliced (raw.go), else through the SDK.
func (r *blob) stream(off int64) (io.ReadCloser, error) {
	s, err := r.b.rawGet(r.ctx, r.id, off, r.etag)
	if errors.Is(err, errNoRaw) {
		return r.get(off, -1)
	}
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", r.id, err)
	}
	return s, nil
}

// SpliceSource is fastlane.SocketSource's: the next n bytes from the
// offset of Read, as the raw GET's socket. It declines (nil conn) for a
// store reached over https, or when the bytes read ahead exceed n.
func (r *blob) SpliceSource(n int64) ([]byte, *net.TCPConn, func(int64, error), error) {
	if !r.b.rawCapable() || n <= 0 || r.off+n > r.size {
		return nil, nil, nil, nil
	}
	r.mu.Lock()
	if s, ok := r.body.(*rawStream); !ok || r.bodyAt != r.off || s.conn == nil {
		if r.body != nil {
			r.body.Close()
			r.body = nil
		}
		body, err := r.stream(r.off)
		if err != nil {
			r.mu.Unlock()
			r.cut(r.off, err)
			return nil, nil, nil, err
		}
		r.body, r.bodyAt = body, r.off
	}
	s, ok := r.body.(*rawStream)
	if !ok || int64(s.br.Buffered()) > n {
		r.mu.Unlock()
		return nil, nil, nil, nil
	}
	head, conn, taken := s.take()
	return head, conn, func(moved int64, err error) {
		defer r.mu.Unlock()
		if errors.Is(err, io.ErrUnexpectedEOF) { // the store's socket ended early
			r.cut(r.off+int64(len(head))+moved, err)
		}
		taken(moved, err)
		got := int64(len(head)) + moved
		r.off += got
		r.bodyAt += got
		if s.conn == nil { // released at its end, or closed
			r.body = nil
		}
	}, nil
}

// Close closes the stream, if open.
func (r *blob) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
	return nil
}
