package objects

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/nixbucket/nixbucket/internal/checksum"
	"github.com/nixbucket/nixbucket/internal/meta"
)

// newUploadID returns an ID that sorts by creation time, so listing uploads
// by (key, id) is AWS's (key, initiated) order.
func (s *Service) newUploadID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(s.now().UnixNano()))
	rand.Read(b[8:])
	return hex.EncodeToString(b[:])
}

// CreateUpload starts a multipart upload, with checksum algorithm alg and
// type typ (both may be empty; typ defaults to alg's). Keys the hook wants
// (narinfos) must be written whole, so they cannot be uploaded in parts.
func (s *Service) CreateUpload(ctx context.Context, bucket, key string, h meta.Headers, alg checksum.Algorithm, typ checksum.Type) (meta.Upload, error) {
	return s.CreateTaggedUpload(ctx, bucket, key, h, alg, typ, nil)
}

// CreateTaggedUpload is CreateUpload for an object that gets tags when it
// is completed (x-amz-tagging).
func (s *Service) CreateTaggedUpload(ctx context.Context, bucket, key string, h meta.Headers, alg checksum.Algorithm, typ checksum.Type, tags []meta.Tag) (_ meta.Upload, err error) {
	defer storageFull(&err)
	if err := ValidKey(key); err != nil {
		return meta.Upload{}, err
	}
	if err := s.admit(0); err != nil {
		return meta.Upload{}, err
	}
	if s.Hook != nil && s.Hook.Wants(bucket, key) {
		return meta.Upload{}, fmt.Errorf("%w: %s must be uploaded in one PUT", ErrInvalidArgument, key)
	}
	if alg != "" && typ == "" {
		typ = alg.DefaultType()
	}
	u := meta.Upload{Bucket: bucket, Key: key, ID: s.newUploadID(), Initiated: s.now(), Headers: h,
		ChecksumAlgorithm: string(alg), ChecksumType: string(typ), Tags: tags}
	if err := s.Meta.CreateUpload(ctx, u); err != nil {
		return meta.Upload{}, err
	}
	return u, nil
}

// PartInput is an UploadPart call.
type PartInput struct {
	Bucket, Key, UploadID string
	Number                int
	Body                  io.Reader
	Size                  int64 // declared; -1 unknown
	Verify                Verify
}

// UploadPart stores one part, replacing an earlier part with its number.
func (s *Service) UploadPart(ctx context.Context, in PartInput) (_ meta.Part, err error) {
	defer storageFull(&err)
	if in.Number < 1 || in.Number > MaxParts {
		return meta.Part{}, fmt.Errorf("%w: part number must be an integer between 1 and %d", ErrInvalidArgument, MaxParts)
	}
	if in.Size > MaxPutSize {
		return meta.Part{}, fmt.Errorf("%w: part of %d bytes", ErrEntityTooLarge, in.Size)
	}
	u, err := s.Meta.Upload(ctx, in.Bucket, in.Key, in.UploadID)
	if err != nil {
		return meta.Part{}, err
	}
	if err := s.admit(in.Size); err != nil {
		return meta.Part{}, err
	}
	v, err := partVerify(u, in.Verify)
	if err != nil {
		return meta.Part{}, err
	}
	w, err := s.write(ctx, in.Body, in.Size, MaxPutSize, v, false)
	if err != nil {
		return meta.Part{}, err
	}
	return s.storePart(ctx, in.Bucket, in.Key, in.UploadID, in.Number, w)
}

// storePart records a part just written as part number of the upload; a
// part it replaces goes, and the new one's blob too if recording fails.
func (s *Service) storePart(ctx context.Context, bucket, key, uploadID string, number int, w written) (meta.Part, error) {
	p := meta.Part{
		Number:   number,
		Size:     w.size(),
		ETag:     hex.EncodeToString(w.md5),
		Modified: s.now(),
		Checksum: w.checksum,
		Segment:  w.seg,
	}
	garbage, err := s.Meta.PutPart(ctx, bucket, key, uploadID, p)
	if err != nil {
		// A part perhaps recorded keeps its blob; the sweep takes it if
		// nothing refers to it.
		if !errors.Is(err, meta.ErrOutcomeUnknown) {
			s.discard(ctx, []meta.Segment{p.Segment})
		}
		return meta.Part{}, err
	}
	s.discard(ctx, garbage)
	return p, nil
}

// CompletedPart is one entry of a CompleteMultipartUpload request.
type CompletedPart struct {
	Number int
	ETag   string
	// ChecksumAlgorithm and Checksum are the part's checksum the request
	// names (ChecksumCRC32 and so on), if any.
	ChecksumAlgorithm checksum.Algorithm
	Checksum          string
}

// CompleteUpload assembles the named parts into the object. No bytes are
// copied: the object's segments are the parts' blobs, and its checksum
// derives from theirs (see objectChecksum).
func (s *Service) CompleteUpload(ctx context.Context, bucket, key, uploadID string, want []CompletedPart, cond Conditions, sum CompleteChecksum) (meta.Object, error) {
	obj, _, err := s.CompleteUploadAgain(ctx, Completion{Bucket: bucket, Key: key, UploadID: uploadID, Parts: want, Cond: cond, Sum: sum})
	return obj, err
}

// Completion is a CompleteMultipartUpload call.
type Completion struct {
	Bucket, Key, UploadID string
	Parts                 []CompletedPart
	Cond                  Conditions
	Sum                   CompleteChecksum
	// Checked, if set, is called once the call has passed every check
	// that reads only records, just before the work that may take long:
	// hashing the assembled bytes of a key that promises its content
	// (NamedHook) and the commit. It is called at most once, and not at
	// all when the call fails earlier, so a caller can answer a refusal
	// known up front as it is and hold back only a slow outcome.
	Checked func()
}

// CompleteUploadAgain is CompleteUpload that also reports whether the
// upload had been completed already, with the same parts, by the request
// this one repeats (an SDK retrying after a lost answer) or by one that
// raced it: it succeeds as S3 does, with the object that completion made,
// and closes no upload.
func (s *Service) CompleteUploadAgain(ctx context.Context, in Completion) (_ meta.Object, again bool, err error) {
	defer storageFull(&err)
	u, err := s.Meta.Upload(ctx, in.Bucket, in.Key, in.UploadID)
	if errors.Is(err, meta.ErrNoSuchUpload) {
		if obj, ok := s.completedAlready(ctx, in.Bucket, in.Key, in.Parts); ok {
			return obj, true, nil
		}
	}
	if err != nil {
		return meta.Object{}, false, err
	}
	obj, err := s.completeUpload(ctx, u, in)
	if errors.Is(err, meta.ErrNoSuchUpload) {
		// Another completion of the upload committed while this one was
		// checking: the first wins, and this one is its repeat when it
		// names the same parts (else S3's NoSuchUpload stands).
		if obj, ok := s.completedAlready(ctx, in.Bucket, in.Key, in.Parts); ok {
			return obj, true, nil
		}
	}
	return obj, false, err
}

// completeUpload completes u as in asks.
func (s *Service) completeUpload(ctx context.Context, u meta.Upload, in Completion) (meta.Object, error) {
	bucket, key, want, sum := in.Bucket, in.Key, in.Parts, in.Sum
	if err := s.admit(0); err != nil {
		return meta.Object{}, err
	}
	if len(want) == 0 {
		return meta.Object{}, fmt.Errorf("%w: you must specify at least one part", ErrInvalidArgument)
	}
	if err := sum.checkType(u); err != nil {
		return meta.Object{}, err
	}
	if len(want) > MaxParts {
		return meta.Object{}, ErrTooManyParts
	}
	// The list's order is checked whole before any part is: S3 answers an
	// unsorted list with InvalidPartOrder whatever the parts' sizes.
	for i := 1; i < len(want); i++ {
		if want[i].Number <= want[i-1].Number {
			return meta.Object{}, ErrInvalidPartOrder
		}
	}
	have, err := s.allParts(ctx, bucket, key, in.UploadID)
	if err != nil {
		return meta.Object{}, err
	}
	obj := meta.Object{Bucket: bucket, Key: key, Modified: s.now(), Headers: withoutNotes(u.Headers), PartsCount: len(want), Tags: u.Tags}
	md5s := md5.New()
	used := make([]meta.Part, 0, len(want))
	for i, w := range want {
		p, ok := have[w.Number]
		if !ok || !ETagIn(w.ETag, p.ETag, false) {
			return meta.Object{}, fmt.Errorf("%w: part %d", ErrInvalidPart, w.Number)
		}
		if err := checkPart(u, w, p); err != nil {
			return meta.Object{}, err
		}
		if i < len(want)-1 && p.Size < MinPartSize {
			return meta.Object{}, fmt.Errorf("%w: part %d is %d bytes", ErrEntityTooSmall, w.Number, p.Size)
		}
		sum, _ := hex.DecodeString(p.ETag)
		md5s.Write(sum)
		obj.Size += p.Size
		obj.Segments = append(obj.Segments, p.Segment)
		used = append(used, p)
	}
	if obj.Size > MaxObjectSize {
		return meta.Object{}, ErrEntityTooLarge
	}
	if sum.Size != nil && *sum.Size != obj.Size {
		return meta.Object{}, requestErrorf("The x-amz-mp-object-size header value %d does not match the size of the parts, %d bytes.", *sum.Size, obj.Size)
	}
	obj.ETag = hex.EncodeToString(md5s.Sum(nil)) + "-" + strconv.Itoa(len(want))
	alg, sumValue, err := objectChecksum(u, used, sum)
	if err != nil {
		return meta.Object{}, err
	}
	obj.ChecksumAlgorithm, obj.Checksum = string(alg), sumValue
	if in.Checked != nil {
		in.Checked()
	}
	if err := s.checkNamed(ctx, &obj); err != nil {
		return meta.Object{}, err // the parts stay: the upload can still be completed
	}
	done := s.adding(bucket, key)
	garbage, err := s.Meta.CompleteUpload(ctx, in.UploadID, obj, in.Cond.check)
	done()
	s.forget(bucket, key)
	if err != nil {
		return meta.Object{}, err
	}
	s.discard(ctx, garbage)
	return obj, nil
}

// completedAlready finds the object a completion of want made, for a
// client that repeats CompleteMultipartUpload after a timeout (Nix and the
// SDKs retry it): AWS answers the repeat with 200 and the same ETag. The
// upload's record is gone once completed, but the object's ETag is the
// MD5 of the parts' MD5s and their count, so the current object is that
// completion when want yields its ETag.
func (s *Service) completedAlready(ctx context.Context, bucket, key string, want []CompletedPart) (meta.Object, bool) {
	if len(want) == 0 || len(want) > MaxParts {
		return meta.Object{}, false
	}
	obj, err := s.Meta.Object(ctx, bucket, key)
	if err != nil || obj.PartsCount != len(want) {
		return meta.Object{}, false
	}
	md5s := md5.New()
	for _, w := range want {
		sum, err := hex.DecodeString(strings.Trim(strings.TrimSpace(w.ETag), `"`))
		if err != nil || len(sum) != md5.Size {
			return meta.Object{}, false
		}
		md5s.Write(sum)
	}
	if hex.EncodeToString(md5s.Sum(nil))+"-"+strconv.Itoa(len(want)) != obj.ETag {
		return meta.Object{}, false
	}
	return obj, true
}

func (s *Service) allParts(ctx context.Context, bucket, key, uploadID string) (map[int]meta.Part, error) {
	have := map[int]meta.Part{}
	after := 0
	for {
		ps, err := s.Meta.Parts(ctx, bucket, key, uploadID, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			have[p.Number] = p
			after = p.Number
		}
		if len(ps) < 1000 {
			return have, nil
		}
	}
}

// AbortUpload discards an upload and its parts.
func (s *Service) AbortUpload(ctx context.Context, bucket, key, uploadID string) error {
	_, err := s.AbortUploadFreed(ctx, bucket, key, uploadID)
	return err
}

// Upload returns an upload's record; meta.ErrNoSuchUpload if missing.
func (s *Service) Upload(ctx context.Context, bucket, key, uploadID string) (meta.Upload, error) {
	return s.Meta.Upload(ctx, bucket, key, uploadID)
}

// Parts returns up to max parts numbered above after, and whether more follow.
func (s *Service) Parts(ctx context.Context, bucket, key, uploadID string, after, max int) ([]meta.Part, bool, error) {
	if _, err := s.Meta.Upload(ctx, bucket, key, uploadID); err != nil {
		return nil, false, err
	}
	if max <= 0 || max > MaxListResults {
		max = MaxListResults
	}
	ps, err := s.Meta.Parts(ctx, bucket, key, uploadID, after, max+1)
	if err != nil {
		return nil, false, err
	}
	if len(ps) > max {
		return ps[:max], true, nil
	}
	return ps, false, nil
}

// UploadsInput is a ListMultipartUploads call.
type UploadsInput struct {
	Bucket, Prefix, Delimiter string
	KeyMarker, UploadIDMarker string
	MaxUploads                int
}

// UploadsOutput is one page of uploads.
type UploadsOutput struct {
	Uploads        []meta.Upload
	CommonPrefixes []string
	Truncated      bool
	NextKeyMarker  string
	NextUploadID   string
}

// Uploads lists multipart uploads in progress.
func (s *Service) Uploads(ctx context.Context, in UploadsInput) (UploadsOutput, error) {
	if _, err := s.Meta.Bucket(ctx, in.Bucket); err != nil {
		return UploadsOutput{}, err
	}
	max := in.MaxUploads
	if max <= 0 || max > MaxListResults {
		max = MaxListResults
	}
	var out UploadsOutput
	q := meta.ScanQuery{Bucket: in.Bucket, Prefix: in.Prefix, After: in.KeyMarker, AfterUploadID: in.UploadIDMarker}
	if in.UploadIDMarker == "" && in.KeyMarker != "" {
		q.AfterUploadID = "\xff" // skip every upload of KeyMarker itself
	}
	if cp, ok := rolledUp(in.KeyMarker, in.Prefix, in.Delimiter); ok {
		q.After, q.AfterUploadID = beyond(cp), ""
	}
	count := 0
	batch := rollupBatch // as in List
	for {
		q.Limit = max - count + 1
		if in.Delimiter != "" {
			q.Limit = min(q.Limit, batch)
		}
		rows, err := s.Meta.ScanUploads(ctx, q)
		if err != nil {
			return UploadsOutput{}, err
		}
		rescan := false
		for _, u := range rows {
			if in.Delimiter != "" {
				rest := u.Key[len(in.Prefix):]
				if i := strings.Index(rest, in.Delimiter); i >= 0 {
					if count == max {
						out.Truncated = true
						return out, nil
					}
					cp := in.Prefix + rest[:i+len(in.Delimiter)]
					out.CommonPrefixes = append(out.CommonPrefixes, cp)
					out.NextKeyMarker, out.NextUploadID = cp, ""
					count++
					q.After, q.AfterUploadID = beyond(cp), ""
					rescan = true
					break
				}
			}
			if count == max {
				out.Truncated = true
				return out, nil
			}
			out.Uploads = append(out.Uploads, u)
			out.NextKeyMarker, out.NextUploadID = u.Key, u.ID
			q.After, q.AfterUploadID = u.Key, u.ID
			count++
		}
		if !rescan && len(rows) < q.Limit {
			return out, nil
		}
		if rescan {
			batch = rollupBatch
		} else {
			batch *= 2
		}
	}
}
