package s3api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/nixbucket/nixbucket/internal/forwarded"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/sigv4"
)

// CodeNotACache answers a binary-cache client that asked for the
// nix-cache-info of a URL that is no cache: the server's root, or a bucket
// that does not exist. Every Nix takes a 404 or 403 there for a cache to
// create, tries to PUT nix-cache-info, and on its refusal prints only
// "does not appear to be a binary cache", showing neither body; the body
// of any other 4xx it prints (when under 1 KiB). 400 it is, then, with
// the URLs of the caches the caller may read.
const CodeNotACache = "XNixbucketNotACache"

// cacheInfoKey is the file every Nix reads first from a binary cache.
const cacheInfoKey = "nix-cache-info"

// hintBudget bounds the list of caches in a CodeNotACache message, so
// that the whole body stays under the 1,024 bytes Nix prints.
const hintBudget = 640

// hintScan bounds the buckets whose policies one CodeNotACache answer
// evaluates; anonScan, for an anonymous caller, so that a stranger's
// request costs no more than a lookup's worth of work.
const (
	hintScan = 1000
	anonScan = 100
)

// rootCacheInfo answers a binary-cache client's GET or HEAD of
// /nix-cache-info, the server's root taken for a cache (nix copy --to
// http://HOST:PORT), while no bucket has that name. It reports whether it
// did. S3 clients are never answered here: for them the path names a
// bucket, as ever.
func rootCacheInfo(q *request) (bool, error) {
	if !q.plain || q.h.Nix == nil || q.key != "" || q.bucket != cacheInfoKey ||
		(q.Method != http.MethodGet && q.Method != http.MethodHead) {
		return false, nil
	}
	if _, ok := sigv4.VirtualHostBucket(q.Host, q.h.Domain); ok {
		return false, nil
	}
	if _, err := q.h.Objects.Bucket(q.Context(), q.bucket); !errors.Is(err, meta.ErrNoSuchBucket) {
		return false, nil // a bucket of that name, or an error its route will meet too
	}
	q.noBucket()
	return true, notACache(q, q.baseURL()+" is a nixbucket server, not a binary cache: each bucket is one, at "+q.baseURL()+"/BUCKET.")
}

// missingCacheInfo answers a binary-cache client's read of a
// nix-cache-info that is not there, unless in a bucket's root (which
// serves one of its own): the bucket does not exist, or the URL goes on
// below it (http://HOST/BUCKET/sub). A cache there would be plain objects
// that nixbucket neither checks nor signs nor indexes, so Nix must not
// create one. Its nix-cache-info put there by S3 is served as any object.
// It reports whether it answered.
func missingCacheInfo(q *request, err error) (bool, error) {
	if !q.plain || q.h.Nix == nil {
		return false, nil
	}
	switch {
	case (q.key == cacheInfoKey || strings.HasSuffix(q.key, "/"+cacheInfoKey)) && errors.Is(err, meta.ErrNoSuchBucket):
		q.noBucket()
		return true, notACache(q, "no bucket "+clip(q.bucket)+" here: each bucket is a binary cache, at "+q.baseURL()+"/BUCKET.")
	case strings.HasSuffix(q.key, "/"+cacheInfoKey) && errors.Is(err, meta.ErrNoSuchKey) &&
		// Whoever may not list the bucket learns nothing of a missing key.
		q.h.Access.Authorize(q.Context(), q.Request, q.id, "s3:ListBucket", q.bucketARN()) == nil:
		sub := clip(strings.TrimSuffix(q.key, "/"+cacheInfoKey))
		base := q.baseURL()
		return true, notACache(q, base+"/"+q.bucket+"/"+sub+" is no binary cache: each bucket is one, at "+base+"/BUCKET, with no path below it.")
	}
	return false, nil
}

// noBucket tells the metrics that the request's bucket does not exist.
func (q *request) noBucket() {
	if q.note != nil {
		q.note.NoBucket = true
	}
}

// clip shortens a name from the URL for a message.
func clip(s string) string {
	if len(s) > 63 {
		return s[:63] + "…"
	}
	return s
}

// baseURL is the server's URL as the client addressed it.
func (q *request) baseURL() string { return forwarded.Scheme(q.Request) + "://" + q.Host }

// notACache is the CodeNotACache error for q, lead saying what is wrong
// with the URL. It names only the caches q's caller may read
// nix-cache-info from: to an anonymous caller, the public ones.
func notACache(q *request, lead string) error {
	base := q.baseURL()
	var msg strings.Builder
	msg.WriteString(lead)
	bs, err := q.h.Objects.Buckets(q.Context())
	if err != nil {
		return err
	}
	var list strings.Builder
	more, scan := false, hintScan
	if q.id.Anonymous {
		scan = anonScan
	}
	for i, b := range bs {
		entry := " " + base + "/" + b.Name
		if i == scan || list.Len()+len(entry) > hintBudget {
			more = true
			break
		}
		if q.h.Access.Authorize(q.Context(), q.Request, q.id, "s3:GetObject", "arn:aws:s3:::"+b.Name+"/"+cacheInfoKey) == nil {
			list.WriteString(entry)
		}
	}
	switch {
	case list.Len() > 0:
		msg.WriteString(" Caches you may read here:" + list.String())
		if more {
			msg.WriteString(" (and maybe more)")
		}
	case q.id.Anonymous:
		msg.WriteString(" None here is public: send credentials (Nix: --option netrc-file FILE).")
	default:
		msg.WriteString(" None here is yours to read.")
	}
	return errorf(CodeNotACache, msg.String())
}
