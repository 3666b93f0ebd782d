package pullthrough

import (
	"bytes"
	"context"
	"errors"
	"fmt"

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
	up := s.origin(bucket, rec.Hash)
	if up == nil || up.Info.FileHash != rec.FileHash {
		// Pulled by another server, or before a restart: ask again.
		ctx, cancel := context.WithTimeout(ctx, narinfoTimeout)
		up, err = f.Narinfo(ctx, rec.Hash)
		cancel()
		if err != nil {
			return nil, err
		}
		if up.Info.FileHash != rec.FileHash || int64(up.Info.FileSize) != rec.FileSize {
			return nil, fmt.Errorf("%s: the upstream's narinfo changed since it was pulled (FileHash %s, now %s): %w",
				key, rec.FileHash, up.Info.FileHash, upstream.ErrNotFound)
		}
		s.remember(bucket, rec.Hash, up)
	}
	want, _ := nixhash.ParseSHA256(rec.FileHash)
	sink := &objectSink{s: s, bucket: bucket, key: key, size: rec.FileSize, want: want}
	d, _, err := f.FetchNAR(ctx, upstream.NARRequest{Source: up.Source, Info: up.Info, Dir: s.TempDir, Sink: sink})
	return d, err
}

// objectSink stores a NAR download in the bucket as it arrives. Its
// object writer is made on the first byte, so a sink handed to a download
// that was already running (and so never used) costs nothing.
type objectSink struct {
	s           *Service
	bucket, key string
	size        int64
	want        nixhash.SHA256
	w           *objects.PushWriter
}

func (o *objectSink) Write(p []byte) (int, error) {
	if o.w == nil {
		w, err := o.s.Objects.NewPushWriter(context.Background(), o.bucket, o.key, o.size,
			meta.Headers{ContentType: "application/x-nix-nar"})
		if err != nil {
			return 0, err
		}
		o.w = w
	}
	return o.w.Write(p)
}

// Commit makes the object visible, unless one appeared meanwhile (a push
// of the same path): that one stands.
func (o *objectSink) Commit(ctx context.Context, _ string) error {
	if o.w == nil {
		return errors.New("no bytes were stored")
	}
	obj, err := o.w.Commit(ctx, objects.Conditions{IfNoneMatch: "*"})
	if errors.Is(err, meta.ErrPreconditionFailed) {
		return nil
	}
	if err != nil {
		return err
	}
	if obj.SHA256 != nil && !bytes.Equal(obj.SHA256, o.want[:]) {
		// The fetcher checked these very bytes; a difference here is a
		// storage fault worth shouting about.
		o.s.log().Error("stored upstream NAR differs from what was fetched", "bucket", o.bucket, "key", o.key)
	}
	return nil
}

func (o *objectSink) Abort() {
	if o.w != nil {
		o.w.Abort()
	}
}
