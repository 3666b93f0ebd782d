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
	n, err := copyBody(io.MultiWriter(h.writers()...), bw, body, limit)
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
	if alg != "" && alg != checksum.SHA256 {
		h.extra = alg.New()
	} else if alg == checksum.SHA256 {
		h.extra = h.sha256 // share the one SHA-256 pass
	}
	return h
}

func (h *hashes) writers() []io.Writer {
	ws := []io.Writer{h.md5, h.sha256}
	if h.extra != nil && h.extra != h.sha256 {
		ws = append(ws, h.extra)
	}
	return ws
}

// copyBody copies body to dst and to the hashes, failing once more than
// limit bytes arrive. It returns the number of bytes copied.
func copyBody(hashes io.Writer, dst storage.Writer, body io.Reader, limit int64) (int64, error) {
	buf := make([]byte, 256<<10)
	var n int64
	for {
		m, rerr := body.Read(buf)
		if m > 0 {
			n += int64(m)
			if n > limit {
				return n, fmt.Errorf("%w: more than %d bytes", ErrEntityTooLarge, limit)
			}
			hashes.Write(buf[:m])
			if _, err := dst.Write(buf[:m]); err != nil {
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
