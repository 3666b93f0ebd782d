package objects

import (
	"context"
	"time"

	"github.com/nixbucket/nixbucket/internal/checksum"
	"github.com/nixbucket/nixbucket/internal/meta"
)

// SourceConditions are CopyObject's x-amz-copy-source-if-* headers.
type SourceConditions struct {
	IfMatch, IfNoneMatch               string
	IfModifiedSince, IfUnmodifiedSince time.Time
}

func (c SourceConditions) check(o meta.Object) error {
	if c.IfMatch != "" && !ETagIn(c.IfMatch, o.ETag, true) {
		return meta.ErrPreconditionFailed
	}
	if c.IfNoneMatch != "" && ETagIn(c.IfNoneMatch, o.ETag, false) {
		return meta.ErrPreconditionFailed
	}
	mod := o.Modified.Truncate(time.Second)
	if !c.IfUnmodifiedSince.IsZero() && c.IfMatch == "" && mod.After(c.IfUnmodifiedSince) {
		return meta.ErrPreconditionFailed
	}
	if !c.IfModifiedSince.IsZero() && c.IfNoneMatch == "" && !mod.After(c.IfModifiedSince) {
		return meta.ErrPreconditionFailed
	}
	return nil
}

// CopyInput is a CopyObject call.
type CopyInput struct {
	SrcBucket, SrcKey string
	Bucket, Key       string
	// ReplaceHeaders stores Headers instead of the source's (the
	// x-amz-metadata-directive REPLACE).
	ReplaceHeaders bool
	Headers        meta.Headers
	SrcCond        SourceConditions
	Cond           Conditions
	// ChecksumAlgorithm, from x-amz-checksum-algorithm, is the checksum
	// the copy keeps; empty keeps the source's (see copyChecksum).
	ChecksumAlgorithm checksum.Algorithm

	// ReplaceTags stores Tags instead of the source's tags (the
	// x-amz-tagging-directive REPLACE).
	ReplaceTags bool
	Tags        []meta.Tag
}

// Copy copies an object, streaming its bytes into a new blob.
func (s *Service) Copy(ctx context.Context, in CopyInput) (_ meta.Object, err error) {
	defer storageFull(&err)
	if err := ValidKey(in.Key); err != nil {
		return meta.Object{}, err
	}
	if err := s.needBucket(ctx, in.Bucket); err != nil {
		return meta.Object{}, err
	}
	src, r, err := s.Get(ctx, in.SrcBucket, in.SrcKey)
	if err != nil {
		return meta.Object{}, err
	}
	defer r.Close()
	if err := in.SrcCond.check(src); err != nil {
		return meta.Object{}, err
	}
	if err := s.admit(src.Size); err != nil {
		return meta.Object{}, err
	}
	h := src.Headers
	if in.ReplaceHeaders {
		h = in.Headers
	}
	tags := src.Tags
	if in.ReplaceTags {
		tags = in.Tags
	}
	if s.Hook != nil && s.Hook.Wants(in.Bucket, in.Key) {
		// A copy onto a hooked key is checked like any other write to it.
		return s.putHooked(ctx, PutInput{Bucket: in.Bucket, Key: in.Key, Body: r, Size: src.Size, Headers: h, Tags: tags, Cond: in.Cond,
			Verify: Verify{Record: copyChecksum(src, in.ChecksumAlgorithm)}})
	}
	w, err := s.write(ctx, r, src.Size, MaxObjectSize, Verify{Record: copyChecksum(src, in.ChecksumAlgorithm)}, true)
	if err != nil {
		return meta.Object{}, err
	}
	obj := s.newObject(in.Bucket, in.Key, h, w)
	obj.Tags = tags
	return s.commitPut(ctx, obj, in.Cond)
}
