package objects

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/nixbucket/nixbucket/internal/checksum"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/storage"
)

// Errors of CopyPart.
var (
	// ErrCopyRange: the range asked for is not within the source object.
	ErrCopyRange = errors.New("copy range not within the source object")
	// ErrCopySourceTooLarge: a whole source object larger than a part
	// may be (5 GiB), copied without a range.
	ErrCopySourceTooLarge = errors.New("copy source larger than a part may be")
)

// CopyPartInput is an UploadPartCopy call: part Number of the upload is
// bytes [First, Last] of the source object, or all of it without Range.
type CopyPartInput struct {
	Bucket, Key, UploadID string
	Number                int
	SrcBucket, SrcKey     string
	Range                 bool
	First, Last           int64
	SrcCond               SourceConditions
}

// CopyPart stores a part copied from an existing object. A range that is
// exactly one of the source's blob segments (the usual case: the aws CLI
// copies in parts of its own chunk size, and the source was uploaded in
// parts of the same size, or is one blob copied whole) becomes a part
// that shares the blob, as CompleteUpload's objects share their parts'
// blobs: no bytes are written. Its ETag, the MD5 of its bytes, is the
// source's own when the part is the whole of a one-part object, and is
// otherwise computed by reading the blob once. Any other range is copied
// into a new blob. A source overwritten or deleted meanwhile is read
// again, as Get does.
func (s *Service) CopyPart(ctx context.Context, in CopyPartInput) (_ meta.Part, src meta.Object, err error) {
	defer storageFull(&err)
	if in.Number < 1 || in.Number > MaxParts {
		return meta.Part{}, src, fmt.Errorf("%w: part number must be an integer between 1 and %d", ErrInvalidArgument, MaxParts)
	}
	if err := ValidKey(in.SrcKey); err != nil {
		return meta.Part{}, src, err
	}
	u, err := s.Meta.Upload(ctx, in.Bucket, in.Key, in.UploadID)
	if err != nil {
		return meta.Part{}, src, err
	}
	// The upload's algorithm, or S3's default for one that named none, as
	// UploadPart keeps: an object completed from copied parts gets a
	// checksum as every other does.
	alg, _ := UploadChecksum(u)
	for try := 0; ; try++ {
		var p meta.Part
		// The last try copies the bytes, whatever the segments.
		p, src, err = s.copyPart(ctx, in, alg, try < 2)
		if try < 2 && (errors.Is(err, meta.ErrSharedBlob) || storage.IsNotExist(err)) {
			continue
		}
		return p, src, err
	}
}

// copyPart is one try of CopyPart; share allows a shared blob.
func (s *Service) copyPart(ctx context.Context, in CopyPartInput, alg checksum.Algorithm, share bool) (meta.Part, meta.Object, error) {
	// From the store, not the memo: the segments must be current, and
	// PutPart checks again that an object still holds a shared blob.
	src, err := s.Meta.Object(ctx, in.SrcBucket, in.SrcKey)
	if err != nil {
		return meta.Part{}, src, err
	}
	if err := in.SrcCond.check(src); err != nil {
		return meta.Part{}, src, err
	}
	start, end := int64(0), src.Size
	if in.Range {
		if in.First < 0 || in.First > in.Last || in.Last >= src.Size {
			return meta.Part{}, src, fmt.Errorf("%w: source object of size: %d", ErrCopyRange, src.Size)
		}
		start, end = in.First, in.Last+1
	}
	if end-start > MaxPutSize {
		return meta.Part{}, src, ErrCopySourceTooLarge
	}
	if seg, ok := wholeSegment(src, start, end); ok && share {
		p, err := s.sharePart(ctx, in, src, seg, alg)
		return p, src, err
	}
	p, err := s.copyPartBytes(ctx, in, src, start, end, alg)
	return p, src, err
}

// wholeSegment returns the segment of obj that is exactly bytes [start,
// end), if there is one and it is a blob (parts are never inline).
func wholeSegment(obj meta.Object, start, end int64) (meta.Segment, bool) {
	var off int64
	for _, seg := range obj.Segments {
		if off == start && off+seg.Size == end && !seg.Inline() && seg.Size > 0 {
			return seg, true
		}
		off += seg.Size
		if off > start {
			break
		}
	}
	return meta.Segment{}, false
}

// sharePart records seg, a blob of src, as the part.
func (s *Service) sharePart(ctx context.Context, in CopyPartInput, src meta.Object, seg meta.Segment, alg checksum.Algorithm) (meta.Part, error) {
	p := meta.Part{Number: in.Number, Size: seg.Size, Modified: s.now(), Segment: seg, Shared: true}
	whole := len(src.Segments) == 1 && src.PartsCount == 0 && !strings.Contains(src.ETag, "-")
	switch {
	case whole && (alg == "" || string(alg) == src.ChecksumAlgorithm && src.Checksum != ""):
		p.ETag = src.ETag
		if alg != "" {
			p.Checksum = src.Checksum
		}
	default:
		var err error
		if p.ETag, p.Checksum, err = s.hashBlob(ctx, seg, alg); err != nil {
			return meta.Part{}, err
		}
	}
	garbage, err := s.Meta.PutPart(ctx, in.Bucket, in.Key, in.UploadID, p)
	if err != nil {
		return meta.Part{}, err
	}
	s.discard(ctx, garbage)
	return p, nil
}

// hashBlob reads a blob once for its MD5 (hex) and, with alg, its
// checksum (base64).
func (s *Service) hashBlob(ctx context.Context, seg meta.Segment, alg checksum.Algorithm) (etag, sum string, err error) {
	b, err := openBlob(ctx, s.Blobs, seg, true)
	if err != nil {
		return "", "", err
	}
	defer b.Close()
	m := md5.New()
	var w io.Writer = m
	var extra hash.Hash
	if alg != "" {
		extra = alg.New()
		w = io.MultiWriter(m, extra)
	}
	buf := chunks.Get().(*[]byte)
	defer chunks.Put(buf)
	n, err := io.CopyBuffer(w, io.NewSectionReader(b, 0, seg.Size), *buf)
	if err != nil {
		return "", "", fmt.Errorf("reading blob %s: %w", seg.Blob, err)
	}
	if n != seg.Size {
		return "", "", fmt.Errorf("blob %s holds %d bytes, want %d: %w", seg.Blob, n, seg.Size, ErrBlobSize)
	}
	if extra != nil {
		sum = checksum.Encode(extra.Sum(nil))
	}
	return hex.EncodeToString(m.Sum(nil)), sum, nil
}

// copyPartBytes writes bytes [start, end) of src into a new blob, the
// part.
func (s *Service) copyPartBytes(ctx context.Context, in CopyPartInput, src meta.Object, start, end int64, alg checksum.Algorithm) (meta.Part, error) {
	if err := s.admit(end - start); err != nil {
		return meta.Part{}, err
	}
	r, err := s.open(ctx, src)
	if err != nil {
		return meta.Part{}, fmt.Errorf("opening %s/%s: %w", in.SrcBucket, in.SrcKey, err) // IsNotExist: tried again
	}
	defer r.Close()
	if _, err := r.Seek(start, io.SeekStart); err != nil {
		return meta.Part{}, err
	}
	w, err := s.write(ctx, io.LimitReader(r, end-start), end-start, MaxPutSize, Verify{ChecksumAlgorithm: alg}, false)
	if err != nil {
		return meta.Part{}, err
	}
	return s.storePart(ctx, in.Bucket, in.Key, in.UploadID, in.Number, w)
}
