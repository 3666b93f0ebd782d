package objects

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/nixbucket/nixbucket/internal/checksum"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/storage"
)

// InlineMax is the largest object (or part) whose bytes are kept in the
// metadata store instead of a blob. Narinfos and other small files then
// cost one metadata transaction, shared with concurrent writers, rather
// than a file, two fsyncs and a rename.
const InlineMax = 16 << 10

// chunkSize is the unit the body is read, hashed and written in.
const chunkSize = 256 << 10

var chunks = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// written is the stored bytes of a body, as a segment, and their hashes.
type written struct {
	seg    meta.Segment
	md5    []byte
	sha256 []byte
	// alg and checksum are the S3 checksum kept with the bytes (see
	// Verify.Record).
	alg      checksum.Algorithm
	checksum string
}

func (w written) size() int64 { return w.seg.Size }

// write stores body as a new segment: inline when inline is set and the
// body ends within InlineMax bytes, else as a committed blob. It hashes as it goes, checks
// every claim in v and the declared size, and on any error leaves nothing
// behind.
func (s *Service) write(ctx context.Context, body io.Reader, size, limit int64, v Verify, inline bool) (written, error) {
	first := chunks.Get().(*[]byte)
	defer chunks.Put(first)
	n, err := fill(body, *first)
	if err != nil && err != io.EOF {
		return written{}, readError(err)
	}
	if inline && err == io.EOF && n <= InlineMax {
		h := newHashes(v, false)
		data := bytes.Clone((*first)[:n])
		h.write(data)
		res, err := h.finish(int64(n), size, v)
		res.seg = meta.Segment{Size: int64(n), Data: data}
		return res, err
	}
	bw, err := s.create(ctx, size)
	if err != nil {
		return written{}, err
	}
	defer bw.Abort() // a no-op after Commit
	sv, offload := bw.(storage.StoreVerifier)
	offload = offload && canOffload(v) && sv.StoreVerifies(ctx, v.SHA256)
	mc, hashed := bw.(storage.MD5Committer)
	if hashed && !offload {
		mc.SkipMD5()
	}
	h := newHashes(v, offload)
	total, err := copyBody(h, bw, body, (*first)[:n], err == io.EOF, limit)
	if offload && errors.Is(err, storage.ErrSHA256Mismatch) {
		return written{}, ErrSHA256Mismatch // the store refused before the end
	}
	if err != nil {
		return written{}, err
	}
	res, err := h.finish(total, size, v)
	if err != nil {
		return written{}, err
	}
	if err := ctx.Err(); err != nil {
		return written{}, err
	}
	var id string
	switch {
	case offload:
		id, res.md5, err = sv.CommitVerified(ctx)
		if errors.Is(err, storage.ErrSHA256Mismatch) {
			return written{}, ErrSHA256Mismatch
		}
		res.sha256 = v.SHA256
		if err == nil && v.MD5 != nil && !bytes.Equal(v.MD5, res.md5) {
			s.discard(ctx, []meta.Segment{{Blob: id, Size: total}})
			return written{}, ErrBadDigest
		}
	case hashed:
		id, err = mc.CommitMD5(ctx, res.md5)
	default:
		id, err = bw.Commit(ctx)
	}
	if err != nil {
		return written{}, err
	}
	res.seg = meta.Segment{Blob: id, Size: total}
	return res, nil
}

// canOffload reports whether the store may hash a body with claims v for
// the server (storage.StoreVerifier): the client signed its SHA-256, and
// no checksum the server computes is MD5 or SHA-256, which it would then
// compute anyway.
func canOffload(v Verify) bool {
	if v.SHA256 == nil {
		return false
	}
	for _, a := range []checksum.Algorithm{v.keeps(), v.ChecksumAlgorithm} {
		if a == checksum.MD5 || a == checksum.SHA256 {
			return false
		}
	}
	return true
}

// create starts a blob, of its declared size where the backend can use
// it (storage.SizedCreator: s3store then streams it in one request).
func (s *Service) create(ctx context.Context, size int64) (storage.Writer, error) {
	if sc, ok := s.Blobs.(storage.SizedCreator); ok && size >= 0 {
		return sc.CreateSized(ctx, size)
	}
	return s.Blobs.Create(ctx)
}

// hashes are the digests computed in the one pass over a body: MD5 (the
// ETag), SHA-256, the S3 checksum the client claims (claimed, nil if none)
// and the one kept (kept, of algorithm keep). Where algorithms coincide
// the hashes are shared, so no digest runs twice. When the store checks
// the SHA-256 and gives the MD5 (offload: storage.StoreVerifier), md5 and
// sha256 are nil.
type hashes struct {
	md5, sha256   hash.Hash
	claimed, kept hash.Hash
	keep          checksum.Algorithm
	others        []hash.Hash // claimed and kept unless shared
}

func newHashes(v Verify, offload bool) *hashes {
	h := &hashes{keep: v.keeps()}
	if !offload {
		h.md5, h.sha256 = md5.New(), sha256.New()
	}
	get := func(a checksum.Algorithm) hash.Hash {
		switch a {
		case "":
			return nil
		case checksum.MD5:
			return h.md5
		case checksum.SHA256:
			return h.sha256
		case h.keep:
			if h.kept != nil {
				return h.kept
			}
		}
		n := a.New()
		h.others = append(h.others, n)
		return n
	}
	h.kept = get(h.keep)
	h.claimed = get(v.ChecksumAlgorithm)
	return h
}

// write feeds every hash but MD5, which copyBody may run elsewhere.
func (h *hashes) writeButMD5(p []byte) {
	if h.sha256 != nil {
		h.sha256.Write(p)
	}
	for _, o := range h.others {
		o.Write(p)
	}
}

func (h *hashes) write(p []byte) {
	h.md5.Write(p)
	h.writeButMD5(p)
}

// finish checks the declared size and the client's claims against the
// hashes of the n bytes read; those of MD5 and SHA-256 only where it
// computed them (not offloaded to the store).
func (h *hashes) finish(n, size int64, v Verify) (written, error) {
	if size >= 0 && n != size {
		return written{}, fmt.Errorf("%w: read %d of %d bytes", ErrIncompleteBody, n, size)
	}
	var res written
	if h.md5 != nil {
		res.md5, res.sha256 = h.md5.Sum(nil), h.sha256.Sum(nil)
		if v.MD5 != nil && !bytes.Equal(v.MD5, res.md5) {
			return written{}, ErrBadDigest
		}
		if v.SHA256 != nil && !bytes.Equal(v.SHA256, res.sha256) {
			return written{}, ErrSHA256Mismatch
		}
	}
	if h.claimed != nil && v.Checksum != nil {
		if want := v.Checksum(); want != "" && want != checksum.Encode(h.claimed.Sum(nil)) {
			return written{}, mismatchError{v.ChecksumAlgorithm}
		}
	}
	res.alg, res.checksum = h.keep, checksum.Encode(h.kept.Sum(nil))
	return res, nil
}

// copyBody writes first (already read; eof says the body ended with it)
// and the rest of body to dst while hashing, failing once more than limit
// bytes arrive. MD5, the slowest hash, runs on a second goroutine over
// one chunk while this one computes SHA-256 and writes, and then reads the
// next chunk into the other buffer, so one large upload uses two cores.
func copyBody(h *hashes, dst storage.Writer, body io.Reader, first []byte, eof bool, limit int64) (int64, error) {
	second := chunks.Get().(*[]byte)
	defer chunks.Put(second)
	bufs := [2][]byte{first[:cap(first)], *second}
	work := make(chan []byte)
	done := make(chan struct{})
	if h.md5 != nil {
		go func() {
			for b := range work {
				h.md5.Write(b)
				done <- struct{}{}
			}
		}()
	}
	defer close(work)
	busy := false // the MD5 goroutine holds a chunk
	wait := func() {
		if busy {
			<-done
			busy = false
		}
	}
	defer wait()
	n := int64(len(first))
	chunk := first
	for i := 0; ; {
		if n > limit {
			return n, fmt.Errorf("%w: more than %d bytes", ErrEntityTooLarge, limit)
		}
		if len(chunk) > 0 {
			wait()
			if h.md5 != nil {
				work <- chunk
				busy = true
			}
			h.writeButMD5(chunk)
			if _, err := dst.Write(chunk); err != nil {
				return n, err
			}
		}
		if eof {
			return n, nil
		}
		i ^= 1
		m, err := fill(body, bufs[i])
		if err != nil && err != io.EOF {
			return n, readError(err)
		}
		eof = err == io.EOF
		chunk = bufs[i][:m]
		n += int64(m)
	}
}

// readError marks a failure to read the request body as an incomplete
// body, keeping the cause for callers that know better (a signature
// error, a timeout).
func readError(err error) error {
	return fmt.Errorf("%w: %w", ErrIncompleteBody, err)
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
