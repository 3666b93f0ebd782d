package objects

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"unicode/utf8"

	"github.com/nixbucket/nixbucket/internal/checksum"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/storage"
)

// Verify lists what the client claims about a body; each claim is checked
// against the hashes computed in the single pass over the bytes.
type Verify struct {
	MD5    []byte // Content-MD5, decoded; nil when absent
	SHA256 []byte // signed x-amz-content-sha256; nil when absent
	// ChecksumAlgorithm asks for an S3 additional checksum; Checksum, if
	// non-nil, returns the expected base64 value once the body is read
	// (it may come from a trailer), "" meaning "compute only".
	ChecksumAlgorithm checksum.Algorithm
	Checksum          func() string
}

// Conditions are S3's conditional-write headers.
type Conditions struct {
	IfMatch     string // an ETag (quoted or not) or "*"
	IfNoneMatch string // "*" (or an ETag)
}

// PutInput is a PutObject call.
type PutInput struct {
	Bucket, Key string
	Body        io.Reader
	Size        int64 // declared length; -1 when unknown
	Headers     meta.Headers
	Verify      Verify
	Cond        Conditions
}

// ValidKey checks an object key: 1 to 1024 bytes of valid UTF-8.
func ValidKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if len(key) > MaxKeyLength {
		return fmt.Errorf("%w: %d bytes", ErrKeyTooLong, len(key))
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidKey)
	}
	return nil
}

// Put stores an object, replacing any current one when in.Cond allows.
func (s *Service) Put(ctx context.Context, in PutInput) (meta.Object, error) {
	if err := ValidKey(in.Key); err != nil {
		return meta.Object{}, err
	}
	if in.Size > MaxPutSize {
		return meta.Object{}, fmt.Errorf("%w: %d bytes in one PUT", ErrEntityTooLarge, in.Size)
	}
	if _, err := s.Meta.Bucket(ctx, in.Bucket); err != nil {
		return meta.Object{}, err
	}
	// Fail a doomed conditional write before reading the body.
	if in.Cond != (Conditions{}) {
		cur, err := s.current(ctx, in.Bucket, in.Key)
		if err != nil {
			return meta.Object{}, err
		}
		if err := in.Cond.check(cur); err != nil {
			return meta.Object{}, err
		}
	}
	w, err := s.write(ctx, in.Body, in.Size, MaxPutSize, in.Verify)
	if err != nil {
		return meta.Object{}, err
	}
	obj := meta.Object{
		Bucket:            in.Bucket,
		Key:               in.Key,
		Size:              w.size,
		ETag:              hex.EncodeToString(w.md5),
		Modified:          s.now(),
		Headers:           in.Headers,
		SHA256:            w.sha256,
		ChecksumAlgorithm: string(in.Verify.ChecksumAlgorithm),
		Checksum:          w.checksum,
		Segments:          []meta.Segment{{Blob: w.blob, Size: w.size}},
	}
	garbage, err := s.Meta.PutObject(ctx, obj, in.Cond.check)
	if err != nil {
		s.discard(ctx, obj.Segments)
		return meta.Object{}, err
	}
	s.discard(ctx, garbage)
	return obj, nil
}

func (s *Service) current(ctx context.Context, bucket, key string) (*meta.Object, error) {
	o, err := s.Meta.Object(ctx, bucket, key)
	if err == nil {
		return &o, nil
	}
	if isNoSuchKey(err) {
		return nil, nil
	}
	return nil, err
}

// written is a committed blob and the hashes of its bytes.
type written struct {
	blob     string
	size     int64
	md5      []byte
	sha256   []byte
	checksum string
}

// write streams body into a new blob, hashing as it goes, checks every
// claim in v and the declared size, and commits the blob. On any error
// nothing is left behind.
func (s *Service) write(ctx context.Context, body io.Reader, size, limit int64, v Verify) (written, error) {
	bw, err := s.Blobs.Create(ctx)
	if err != nil {
		return written{}, err
	}
	ok := false
	defer func() {
		if !ok {
			bw.Abort()
		}
	}()
	h := newHashes(v.ChecksumAlgorithm)
	n, err := copyBody(h, bw, body, limit)
	if err != nil {
		return written{}, err
	}
	if size >= 0 && n != size {
		return written{}, fmt.Errorf("%w: read %d of %d bytes", ErrIncompleteBody, n, size)
	}
	res := written{size: n, md5: h.md5.Sum(nil), sha256: h.sha256.Sum(nil)}
	if v.MD5 != nil && !bytes.Equal(v.MD5, res.md5) {
		return written{}, ErrBadDigest
	}
	if v.SHA256 != nil && !bytes.Equal(v.SHA256, res.sha256) {
		return written{}, ErrSHA256Mismatch
	}
	if h.extra != nil {
		res.checksum = checksum.Encode(h.extra.Sum(nil))
		if v.Checksum != nil {
			if want := v.Checksum(); want != "" && want != res.checksum {
				return written{}, fmt.Errorf("%w: the %s you specified did not match the calculated checksum", ErrChecksumMismatch, v.ChecksumAlgorithm)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return written{}, err
	}
	if res.blob, err = bw.Commit(ctx); err != nil {
		return written{}, err
	}
	ok = true
	return res, nil
}

type hashes struct {
	md5, sha256, extra hash.Hash
}

func newHashes(alg checksum.Algorithm) *hashes {
	h := &hashes{md5: md5.New(), sha256: sha256.New()}
	if alg == checksum.SHA256 {
		h.extra = h.sha256 // share the one SHA-256 pass
	} else if alg != "" {
		h.extra = alg.New()
	}
	return h
}

// chunkSize is the unit the body is read, hashed and written in.
const chunkSize = 256 << 10

// copyBody copies body to dst while computing the hashes, failing once
// more than limit bytes arrive. MD5, the slowest hash, runs on a second
// goroutine over the same chunk while this one computes SHA-256 and
// writes, so one large upload uses two cores; the other buffer is being
// filled from the network meanwhile.
func copyBody(h *hashes, dst storage.Writer, body io.Reader, limit int64) (int64, error) {
	bufs := [2][]byte{make([]byte, chunkSize), make([]byte, chunkSize)}
	work := make(chan []byte)
	done := make(chan struct{})
	go func() {
		for b := range work {
			h.md5.Write(b)
			done <- struct{}{}
		}
	}()
	defer close(work)
	var n int64
	busy := false // the md5 goroutine holds a chunk
	wait := func() {
		if busy {
			<-done
			busy = false
		}
	}
	defer wait()
	for i := 0; ; i ^= 1 {
		m, rerr := fill(body, bufs[i])
		if m > 0 {
			n += int64(m)
			if n > limit {
				return n, fmt.Errorf("%w: more than %d bytes", ErrEntityTooLarge, limit)
			}
			chunk := bufs[i][:m]
			wait()
			work <- chunk
			busy = true
			h.sha256.Write(chunk)
			if h.extra != nil && h.extra != h.sha256 {
				h.extra.Write(chunk)
			}
			if _, err := dst.Write(chunk); err != nil {
				return n, err
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// fill reads into buf until it is full or the body ends; unlike
// io.ReadFull it passes a reader's own io.ErrUnexpectedEOF through as an
// error and reports the end of the body as io.EOF.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
