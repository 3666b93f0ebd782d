package binarycache

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
	"github.com/nixbucket/nixbucket/internal/nix/storepath"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// A pull-through bucket stores a narinfo it took from an upstream before
// the NAR, which stays upstream until its first GET (internal/pullthrough).
// Stored again through the Hook, such a narinfo would be refused, for its
// NAR is not in the bucket. Resign signs it as the pull did instead: on
// the word of the upstream signature it was accepted for, with the
// bucket's keys added, stored through objects.PutVouched, which keeps it
// marked pulled. Once its NAR is stored, Resign goes through the Hook as
// for any narinfo.

// pendingPull reports whether obj, a narinfo, was pulled from an upstream
// and its NAR is not stored yet.
func (h *Hook) pendingPull(ctx context.Context, obj meta.Object, ni *narinfo.NarInfo) (bool, error) {
	if !objects.Pulled(obj) {
		return false, nil
	}
	_, err := h.Objects.Head(ctx, obj.Bucket, ni.URL)
	if errors.Is(err, meta.ErrNoSuchKey) {
		return true, nil
	}
	return false, err
}

// resignPulled signs a pulled narinfo whose NAR is still upstream with
// every key of the bucket and stores it if it is still the object
// Resign read. It reports whether it stored it.
func (h *Hook) resignPulled(ctx context.Context, obj meta.Object, ni *narinfo.NarInfo, keys []signature.SecretKey) (bool, error) {
	if enc := strings.TrimSpace(obj.Headers.ContentEncoding); enc != "" {
		// The pull stores narinfos plain; another encoding means the
		// object is not what the pull wrote.
		return false, fmt.Errorf("%s: pulled narinfo stored with Content-Encoding %s", obj.Key, enc)
	}
	sp, err := storepath.Parse(ni.StorePath)
	if err != nil {
		return false, fmt.Errorf("%s: %w", obj.Key, err)
	}
	for _, k := range keys {
		ni.SignBeside(k) // as the pull did: an upstream signature of the same name stays
	}
	rec := record(obj.Bucket, sp.Hash(), ni)
	// A rewrite, no pull: the record keeps its times (as KeepNarinfoTimes).
	if old, err := h.Objects.Meta.Narinfo(ctx, obj.Bucket, rec.Hash); err == nil {
		rec.Created, rec.LastAccess, rec.Copied = old.Created, old.LastAccess, true
	} else if !errors.Is(err, meta.ErrNoSuchKey) {
		return false, err
	}
	_, err = h.Objects.PutVouched(ctx, obj.Bucket, obj.Key, obj.Headers, []byte(ni.String()),
		rec, objects.Conditions{IfMatch: obj.ETag})
	if errors.Is(err, meta.ErrPreconditionFailed) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("storing %s: %w", obj.Key, err)
	}
	return true, nil
}
