package pullthrough

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/nixbucket/nixbucket/internal/checksum"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nix/nixhash"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/upstream"
)

// ErrNotPulled is returned by FetchNAR for a key that is not the NAR of a
// path the bucket pulled.
var ErrNotPulled = errors.New("not an upstream NAR of this bucket")

// PendingNAR reports whether key is the NAR of a path the bucket pulled
// from upstream and has not stored yet, and its size. It contacts no
// upstream.
func (s *Service) PendingNAR(ctx context.Context, bucket, key string) (size int64, ok bool) {
	rec, _, err := s.pending(ctx, bucket, key)
	if err != nil {
		return 0, false
	}
	return rec.FileSize, true
}

func (s *Service) pending(ctx context.Context, bucket, key string) (meta.Narinfo, *upstream.Fetcher, error) {
	hash, ok := parseNARKey(key)
	if !ok {
		return meta.Narinfo{}, nil, ErrNotPulled
	}
	f, err := s.fetcher(ctx, bucket)
	if err != nil {
		return meta.Narinfo{}, nil, err
	}
	if f == nil {
		return meta.Narinfo{}, nil, ErrNotPulled
	}
	rec, err := s.Store.Narinfo(ctx, bucket, hash)
	if errors.Is(err, meta.ErrNoSuchKey) || err == nil && rec.URL != key {
		return meta.Narinfo{}, nil, ErrNotPulled
	}
	return rec, f, err
}

// FetchNAR starts, or joins, the download of key, the NAR of a path the
// bucket pulled, and has it stored in the bucket once verified. The
// caller reads it through the Download and closes it.
func (s *Service) FetchNAR(ctx context.Context, bucket, key string) (*upstream.Download, error) {
	rec, f, err := s.pending(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	up := s.origin(bucket, rec.Hash, f)
	if up == nil || up.Info.FileHash != rec.FileHash {
		// Pulled by another server, before a restart, or under other
		// upstream settings: ask again.
		ctx, cancel := context.WithTimeout(ctx, narinfoTimeout)
		up, err = f.Narinfo(ctx, rec.Hash)
		cancel()
		if err == nil && (up.Info.FileHash != rec.FileHash || int64(up.Info.FileSize) != rec.FileSize) {
			err = fmt.Errorf("%s: the upstream's narinfo changed since it was pulled (FileHash %s, now %s): %w",
				key, rec.FileHash, up.Info.FileHash, upstream.ErrNotFound)
		}
		if err != nil {
			s.dropGone(bucket, rec.Hash, key, err)
			return nil, err
		}
		s.remember(bucket, rec.Hash, f, up)
	}
	want, _ := nixhash.ParseSHA256(rec.FileHash)
	sink := &objectSink{s: s, bucket: bucket, key: key, size: rec.FileSize, want: want, crc: checksum.Default.New()}
	sink.hash = rec.Hash
	d, _, err := f.FetchNAR(ctx, upstream.NARRequest{Source: up.Source, Info: up.Info, Dir: s.TempDir, Sink: sink,
		EarlyRelease: true})
	if err != nil {
		s.dropGone(bucket, rec.Hash, key, err)
	}
	return d, err
}

// Open reads key, a listing or build log the bucket lacks, from the
// bucket's upstreams (see upstream.Fetcher.Open).
func (s *Service) Open(ctx context.Context, bucket, key string) (io.ReadCloser, int64, error) {
	f, err := s.fetcher(ctx, bucket)
	if err != nil {
		return nil, 0, err
	}
	if f == nil {
		return nil, 0, fmt.Errorf("%s: %w", key, upstream.ErrNotFound)
	}
	body, size, _, err := f.Open(ctx, key, nil)
	return body, size, err
}

// objectSink keeps a verified NAR download in the bucket. The fetcher
// writes the bytes to its temp file for the clients that follow the
// download, and Commit makes that very file the object's blob
// (objects.PutPulledFile), so each byte is written and SHA-256-hashed
// once. Of the bytes passed to Write the sink only computes the
// CRC-64/NVME the object keeps, while they are still in the CPU's cache,
// so the file is not read again; the object's ETag comes from the SHA-256
// (objects.PulledETag), so no MD5 is computed. Commit runs after the
// clients had their last bytes, so storing costs them no time.
type objectSink struct {
	s           *Service
	bucket, key string
	hash        string // the store path's
	size        int64
	want        nixhash.SHA256
	crc         hash.Hash // checksum.Default, of the bytes so far
}

func (o *objectSink) Write(p []byte) (int, error) { return o.crc.Write(p) }

// Commit makes the object visible, unless one appeared meanwhile (a push
// of the same path): that one stands.
func (o *objectSink) Commit(ctx context.Context, tempPath string) error {
	_, err := o.s.Objects.PutPulledFile(ctx, o.bucket, o.key, meta.Headers{ContentType: "application/x-nix-nar"},
		objects.PulledFile{Path: tempPath, Size: o.size, SHA256: o.want[:], CRC64NVME: o.crc.Sum(nil)},
		objects.Conditions{IfNoneMatch: "*"})
	if errors.Is(err, meta.ErrPreconditionFailed) {
		return nil
	}
	return err
}

// Abort drops the pulled narinfo when the file did not match it (a wrong
// FileHash, or a file that decodes to another NarHash or NarSize), or the
// upstream no longer has it, unless it was replaced since: the path is
// pulled afresh at its next request (or is a miss), rather than the bucket
// answering for good with a narinfo whose NAR no client can get. It runs
// before the readers get their error. Other upstream failures (down, cut
// off) leave the narinfo: the next GET fetches again.
func (o *objectSink) Abort(err error) { o.s.dropGone(o.bucket, o.hash, o.key, err) }

// dropGone drops the pulled narinfo of hash, whose NAR file is key, when
// err says the upstreams will not give that file (upstream.ErrMismatch or
// upstream.ErrNotFound); see objectSink.Abort.
func (s *Service) dropGone(bucket, hash, key string, err error) {
	why := "did not match its narinfo"
	switch {
	case errors.Is(err, upstream.ErrMismatch):
	case errors.Is(err, upstream.ErrNotFound):
		why = "is gone from the upstreams"
	default:
		return
	}
	name := hash + ".narinfo"
	ctx, cancel := context.WithTimeout(context.Background(), narinfoTimeout)
	defer cancel()
	obj, err := s.Objects.Head(ctx, bucket, name)
	if err != nil || !objects.Pulled(obj) {
		return
	}
	if rec, err := s.Store.Narinfo(ctx, bucket, hash); err != nil || rec.URL != key {
		return
	}
	err = s.Objects.Delete(ctx, bucket, name, objects.Conditions{IfMatch: obj.ETag})
	if err != nil && !errors.Is(err, meta.ErrPreconditionFailed) {
		s.log().Error("dropping a pulled narinfo whose NAR "+why, "bucket", bucket, "hash", hash, "err", err)
		return
	}
	s.log().Warn("upstream NAR "+why+": the pulled narinfo is dropped", "bucket", bucket, "hash", hash, "key", key)
}
