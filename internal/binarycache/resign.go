package binarycache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nix/codec"
	"github.com/nixbucket/nixbucket/internal/nix/narinfo"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// ResignOptions tune Hook.Resign.
type ResignOptions struct {
	// Every is how many narinfos pass between calls of Progress and
	// Announce (default 500).
	Every int
	// Progress, if set, sees the counts so far every Every narinfos.
	Progress func(ResignResult)
	// Announce, if set, runs after every batch of rewritten narinfos and
	// at the end, so that servers running on the same store drop what
	// they remember of them (see objects' memo).
	Announce func(context.Context) error
}

// ResignResult counts what Resign did.
type ResignResult struct {
	Narinfos int // narinfos seen
	Resigned int // rewritten with the missing signatures
	Skipped  int // left alone: their NAR cannot be checked here, so they stay unsigned by the bucket
	Replaced int // left alone: overwritten by an upload while Resign read them
	// Pulled counts the Resigned narinfos pulled from an upstream whose
	// NAR is not fetched yet: signed on the upstream's signature, as the
	// pull signed them (see resign_pulled.go).
	Pulled int
}

// Resign adds the signature of each of the bucket's current keys to every
// stored narinfo that lacks one (as after `bucket key generate`: a key
// rotation), keeping the signatures it has. Each such narinfo is stored
// again through objects.Service.Put and this Hook, as an upload is: it is
// checked again (signed means checked), committed atomically, and only if
// it is still the object Resign read (If-Match), so a push meanwhile wins.
// A narinfo that already carries a valid signature by every key is not
// written: a second run changes nothing.
func (h *Hook) Resign(ctx context.Context, bucket string, opts ResignOptions) (ResignResult, error) {
	var res ResignResult
	if h.Objects.Hook != objects.Hook(h) {
		return res, errors.New("resign: the object core must check narinfos with this hook")
	}
	every := opts.Every
	if every <= 0 {
		every = 500
	}
	keys, err := h.Keys.SigningKeys(ctx, bucket)
	if err != nil {
		return res, err
	}
	if len(keys) == 0 {
		return res, fmt.Errorf("bucket %s has no signing key (nixbucket bucket key generate %s)", bucket, bucket)
	}
	pubs := make([]signature.PublicKey, len(keys))
	secrets := make([]signature.SecretKey, len(keys))
	for i, k := range keys {
		sk, err := signature.ParseSecretKey(k.Secret)
		if err != nil {
			return res, fmt.Errorf("bucket %s signing key %s: %w", bucket, k.Name, err)
		}
		pubs[i], secrets[i] = sk.Public(), sk
	}
	dirty := false
	announce := func() error {
		if !dirty || opts.Announce == nil {
			return nil
		}
		dirty = false
		return opts.Announce(ctx)
	}
	after := ""
	for {
		page, err := h.Objects.List(ctx, objects.ListInput{Bucket: bucket, Delimiter: "/", After: after, MaxKeys: objects.MaxListResults})
		if err != nil {
			return res, err
		}
		for _, o := range page.Objects {
			if !IsNarinfoKey(o.Key) {
				continue
			}
			changed, err := h.resignOne(ctx, o, pubs, secrets, &res)
			if err != nil {
				return res, errors.Join(err, announce())
			}
			dirty = dirty || changed
			if res.Narinfos%every == 0 {
				if err := announce(); err != nil {
					return res, err
				}
				if opts.Progress != nil {
					opts.Progress(res)
				}
			}
		}
		if !page.Truncated {
			break
		}
		after = page.Last
	}
	return res, announce()
}

// resignOne rewrites one narinfo if it lacks a signature by one of pubs,
// and reports whether it did.
func (h *Hook) resignOne(ctx context.Context, o meta.Object, pubs []signature.PublicKey, secrets []signature.SecretKey, res *ResignResult) (bool, error) {
	res.Narinfos++
	obj, r, err := h.Objects.Get(ctx, o.Bucket, o.Key)
	if errors.Is(err, meta.ErrNoSuchKey) {
		res.Replaced++ // deleted since the listing
		return false, nil
	}
	if err != nil {
		return false, err
	}
	body, err := io.ReadAll(io.LimitReader(r, objects.MaxHooked+1))
	r.Close()
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", o.Key, err)
	}
	text, err := decode(strings.TrimSpace(obj.Headers.ContentEncoding), body, narinfo.MaxSize)
	if err != nil {
		return false, fmt.Errorf("%s: %w", o.Key, err)
	}
	ni, err := narinfo.Parse(text)
	if err != nil {
		return false, fmt.Errorf("%s: %w", o.Key, err)
	}
	if !lacksSignature(ni, pubs) {
		return false, nil
	}
	if pending, err := h.pendingPull(ctx, obj, ni); err != nil {
		return false, err
	} else if pending {
		ok, err := h.resignPulled(ctx, obj, ni, secrets)
		switch {
		case err != nil:
			return false, err
		case !ok:
			res.Replaced++
			return false, nil
		}
		res.Resigned++
		res.Pulled++
		return true, nil
	}
	if !codec.Supported(narCompression(ni)) {
		// The Hook signs only what it checked, and this NAR it cannot
		// decode: storing it again would change nothing.
		res.Skipped++
		return false, nil
	}
	_, err = h.Objects.Put(ctx, objects.PutInput{
		Bucket: o.Bucket, Key: o.Key, Body: bytes.NewReader(body), Size: int64(len(body)),
		Headers: obj.Headers, Cond: objects.Conditions{IfMatch: obj.ETag},
		MayRead:          func(string) bool { return true }, // the administrator's own run
		KeepNarinfoTimes: true,
	})
	if errors.Is(err, meta.ErrPreconditionFailed) {
		res.Replaced++
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("storing %s: %w", o.Key, err)
	}
	res.Resigned++
	return true, nil
}

// lacksSignature reports whether ni has no valid signature by one of
// keys.
func lacksSignature(ni *narinfo.NarInfo, keys []signature.PublicKey) bool {
	for _, k := range keys {
		if !ni.Verify(k) {
			return true
		}
	}
	return false
}
