package objects

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// NotePrefix starts the user-metadata names the server keeps for itself:
// facts it computed from an object's bytes (such as what a compressed NAR
// decodes to). Clients cannot set them: every write drops such names from
// the headers it was given, so a note on an object was written by
// Annotate, for the bytes the object still holds. They are echoed on GET
// as x-amz-meta-nixbucket-….
const NotePrefix = "nixbucket-"

// withoutNotes returns h without names under NotePrefix.
func withoutNotes(h meta.Headers) meta.Headers {
	for k := range h.UserMeta {
		if strings.HasPrefix(k, NotePrefix) {
			h.UserMeta = maps.Clone(h.UserMeta)
			maps.DeleteFunc(h.UserMeta, func(k, _ string) bool { return strings.HasPrefix(k, NotePrefix) })
			break
		}
	}
	return h
}

// Annotate records facts the server computed about obj's bytes, so that
// later checks need not read them again: its SHA-256 when the record has
// none (a multipart object), and notes (names under NotePrefix). It
// changes nothing else (ETag, modification time and bytes stay), and does
// nothing when obj was replaced or deleted meanwhile.
func (s *Service) Annotate(ctx context.Context, obj meta.Object, sha256 []byte, notes map[string]string) error {
	if s.Hook != nil && s.Hook.Wants(obj.Bucket, obj.Key) {
		return nil // its record carries an index entry this would drop
	}
	for k := range notes {
		if !strings.HasPrefix(k, NotePrefix) {
			return errors.New("objects: note " + k + " lacks the prefix " + NotePrefix)
		}
	}
	cur, err := s.Meta.Object(ctx, obj.Bucket, obj.Key)
	if isNoSuchKey(err) {
		return nil
	}
	if err != nil {
		return err
	}
	same := func(c *meta.Object) bool {
		return c != nil && c.ETag == obj.ETag && c.Size == obj.Size && c.Modified.Equal(obj.Modified) &&
			slices.EqualFunc(c.Segments, obj.Segments, func(a, b meta.Segment) bool { return a.Blob == b.Blob && a.Size == b.Size })
	}
	if !same(&cur) {
		return nil
	}
	next := cur
	if next.SHA256 == nil && sha256 != nil {
		next.SHA256 = sha256
	}
	if len(notes) > 0 {
		next.Headers.UserMeta = maps.Clone(next.Headers.UserMeta)
		if next.Headers.UserMeta == nil {
			next.Headers.UserMeta = map[string]string{}
		}
		maps.Copy(next.Headers.UserMeta, notes)
	}
	garbage, err := s.Meta.PutObject(ctx, next, func(c *meta.Object) error {
		if !same(c) {
			return meta.ErrPreconditionFailed
		}
		return nil
	})
	s.forget(obj.Bucket, obj.Key)
	if errors.Is(err, meta.ErrPreconditionFailed) {
		return nil
	}
	if err != nil {
		return err
	}
	// The same segments are referenced again, so a store returns none of
	// them; never delete one that is.
	garbage = slices.DeleteFunc(garbage, func(g meta.Segment) bool {
		return slices.ContainsFunc(next.Segments, func(n meta.Segment) bool { return n.Blob == g.Blob })
	})
	s.discard(ctx, garbage)
	return nil
}
