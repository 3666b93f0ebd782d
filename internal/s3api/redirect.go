package s3api

import (
	"context"
	"net/http"
	"strings"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// Redirector hands out URLs by which a client reads an object's bytes
// straight from the blob store (`serve --redirect-reads`).
type Redirector interface {
	// ReadURL returns a short-lived URL of obj's bytes whose answer
	// carries contentType and cacheControl (when not empty), or ok false
	// when obj cannot be read that way (several segments, inline).
	ReadURL(ctx context.Context, obj meta.Object, contentType, cacheControl string) (url string, ok bool, err error)
}

// redirectCacheControl is the 307's own Cache-Control: a client or private
// cache may reuse it briefly, well within the URL's lifetime, and no shared
// cache may hand one caller's URL to another.
const redirectCacheControl = "private, max-age=60"

// redirectRead answers a GET of a NAR (a key under nar/) with a 307 to the
// blob store when the handler has a Redirector and the object is one blob.
// It reports whether it answered; when not, the caller serves the bytes.
// The caller has authorized the read. Conditionals are answered here, as
// for any GET; a Range travels with the client to the store.
func redirectRead(q *request) (bool, error) {
	if q.h.Redirect == nil || q.Method != http.MethodGet || !strings.HasPrefix(q.key, "nar/") {
		return false, nil
	}
	obj, err := q.h.Objects.Head(q.Context(), q.bucket, q.key)
	if err != nil {
		return false, nil // the usual path answers the error
	}
	plan, err := planRead(q.Header, q.query.Get("partNumber"), obj)
	if err != nil || plan.unsatisfiable || plan.partsCount > 0 || readEncryption(q.Header) != nil {
		return false, nil
	}
	h := q.w.Header()
	objectHeaders(q.w, obj, q.query)
	if q.h.Nix != nil {
		nixHeaders(q, obj)
	}
	if plan.notModified {
		q.w.WriteHeader(http.StatusNotModified)
		return true, nil
	}
	url, ok, err := q.h.Redirect.ReadURL(q.Context(), obj, h.Get("Content-Type"), h.Get("Cache-Control"))
	if err != nil || !ok {
		dropObjectHeaders(h)
		if err != nil {
			q.h.log().Warn("serving a NAR instead of redirecting to the blob store", "bucket", q.bucket, "key", q.key, "err", err)
		}
		return false, nil
	}
	dropObjectHeaders(h)
	h.Set("Location", url)
	h.Set("Cache-Control", redirectCacheControl)
	q.w.WriteHeader(http.StatusTemporaryRedirect)
	return true, nil
}
