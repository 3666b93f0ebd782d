package s3api

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/binarycache"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nix/codec"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// immutable is the Cache-Control of NARs that anyone may read: a NAR's
// name is the hash of its bytes, so it never changes.
const immutable = "public, max-age=31536000, immutable"

// serveCacheInfo answers nix-cache-info for a bucket that holds none:
// every Nix reads it when it opens a cache, and one that finds none tries
// to upload it, which a read-only client cannot.
func serveCacheInfo(q *request) error {
	body, err := q.h.Nix.CacheInfo(q.Context(), q.bucket)
	if err != nil {
		return err
	}
	h := q.w.Header()
	h.Set("Content-Type", "text/x-nix-cache-info")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	q.w.WriteHeader(http.StatusOK)
	if q.Method != http.MethodHead {
		q.w.Write(body)
	}
	return nil
}

// nixHeaders adds what the binary-cache protocol wants on an object, and
// records narinfo reads (GET and HEAD).
func nixHeaders(q *request, obj meta.Object) {
	if strings.HasPrefix(q.key, "nar/") && q.w.Header().Get("Cache-Control") == "" {
		anon := access.Identity{Anonymous: true}
		if q.h.Access.Authorize(q.Context(), q.Request, anon, "s3:GetObject", q.objectARN()) == nil {
			q.w.Header().Set("Cache-Control", immutable)
		}
	}
	// A HEAD is how a push (nix copy) asks whether a path it will refer
	// to is there: that use keeps the path through the GC's grace period.
	if binarycache.IsNarinfoKey(q.key) {
		q.h.Nix.Touch(q.bucket, q.key)
	}
}

// decoded serves an object stored with an encoding clients may not know
// (xz or bzip2 from ls- or log-compression) decoded: it reports whether it
// did. Such a response has no length and no ranges.
func decoded(q *request, obj meta.Object, rd *objects.Reader) (bool, error) {
	dec, err := binarycache.Decoder(obj.Headers.ContentEncoding, rd)
	if dec == nil && err == nil {
		return false, nil
	}
	if err != nil {
		dropObjectHeaders(q.w.Header())
		if errors.Is(err, codec.ErrLimit) {
			return true, errorf("InvalidRequest", "stored object is not served decoded: "+err.Error())
		}
		return true, errorf("InternalError", "stored object does not decode: "+err.Error())
	}
	defer dec.Close()
	h := q.w.Header()
	h.Del("Content-Encoding")
	h.Del("Accept-Ranges")
	dropChecksumHeaders(h) // they are of the stored bytes, not of these
	q.Header.Del("Range")
	q.w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(q.w, dec); err != nil {
		q.h.log().Warn("serving decoded object", "bucket", q.bucket, "key", q.key, "err", err)
	}
	return true, nil
}

// dropObjectHeaders removes what objectHeaders and sendObject set, before
// an error is written instead of the object.
func dropObjectHeaders(h http.Header) {
	for k := range h {
		l := strings.ToLower(k)
		switch {
		case strings.HasPrefix(l, "x-amz-meta-"), strings.HasPrefix(l, "x-amz-checksum-"), strings.HasPrefix(l, "content-"),
			l == "etag", l == "last-modified", l == "accept-ranges", l == "cache-control", l == "expires", l == "x-amz-mp-parts-count":
			delete(h, k)
		}
	}
}
