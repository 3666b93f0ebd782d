package s3api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/nixbucket/nixbucket/internal/binarycache"
	"github.com/nixbucket/nixbucket/internal/upstream"
)

// Puller fills the misses of pull-through buckets from their upstream
// caches (internal/pullthrough).
type Puller interface {
	// Enabled reports whether bucket pulls through (it has upstreams).
	Enabled(ctx context.Context, bucket string) bool
	// Narinfo reports whether hash.narinfo, missing from bucket, is now
	// stored there, fetched from an upstream. Upstream misses and errors
	// report false.
	Narinfo(ctx context.Context, bucket, hash string) bool
	// PendingNAR reports whether key is the NAR of a pulled path that the
	// bucket has not stored yet, and its size, without asking upstream.
	PendingNAR(ctx context.Context, bucket, key string) (size int64, ok bool)
	// FetchNAR starts or joins the download of such a NAR; the caller
	// closes the Download.
	FetchNAR(ctx context.Context, bucket, key string) (*upstream.Download, error)
	// Open reads key, a file the bucket lacks that needs no narinfo check
	// (a .ls listing, a build log), from the bucket's upstreams; the
	// caller closes the body. size is -1 when the upstream did not say.
	Open(ctx context.Context, bucket, key string) (body io.ReadCloser, size int64, err error)
}

// pushHints are the request headers by which a client says that a read
// belongs to an upload (NixOS/nix#15249 proposes them; no Nix release
// sends one yet, so the caller's write permission below is what counts).
var pushHints = []string{"X-Nix-Operation", "Nix-Copy-Mode"}

// mayPull reports whether a miss of this request may be filled from
// upstream: the bucket pulls through (checked by the Puller), and the
// caller is not pushing. Nix probes each narinfo before uploading it, and
// fetching the path upstream then would download what the client is
// about to upload (ncps's failure), so a caller who may write the key
// never triggers an upstream fetch, nor does a request with a push hint.
func mayPull(q *request) bool {
	if q.h.Pull == nil || (q.Method != http.MethodGet && q.Method != http.MethodHead) ||
		!q.h.Pull.Enabled(q.Context(), q.bucket) {
		return false
	}
	for _, h := range pushHints {
		switch strings.ToLower(q.Header.Get(h)) {
		case "push", "upload":
			return false
		}
	}
	return q.allow("s3:PutObject", q.objectARN()) != nil
}

// pullNarinfo fills a narinfo miss from upstream; it reports whether the
// narinfo is now in the bucket.
func pullNarinfo(q *request) bool {
	if !binarycache.IsNarinfoKey(q.key) || !mayPull(q) {
		return false
	}
	return q.h.Pull.Narinfo(q.Context(), q.bucket, strings.TrimSuffix(q.key, ".narinfo"))
}

// servePulledNAR answers a GET or HEAD of a NAR the bucket promised (its
// narinfo was pulled) but has not stored yet: a HEAD with its size, a GET
// (one Range at most) with the bytes as the one upstream download of it
// brings them, while they are stored. It reports whether it answered. If
// the download fails or does not match its narinfo, the connection is cut
// before the last byte, so no client takes bad bytes for a whole NAR.
func servePulledNAR(q *request) (bool, error) {
	if !strings.HasPrefix(q.key, "nar/") || !mayPull(q) {
		return false, nil
	}
	size, ok := q.h.Pull.PendingNAR(q.Context(), q.bucket, q.key)
	if !ok {
		return false, nil
	}
	h := q.w.Header()
	h.Set("Content-Type", "application/x-nix-nar")
	h.Set("Accept-Ranges", "bytes")
	start, end := int64(0), size
	status := http.StatusOK
	if spec := q.Header.Get("Range"); spec != "" && q.query.Get("partNumber") == "" {
		s, e, ok := parseRange(spec, size)
		if ok && s >= size {
			h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			return true, errorf("InvalidRange", "")
		}
		if ok {
			start, end, status = s, e, http.StatusPartialContent
			h.Set("Content-Range", "bytes "+strconv.FormatInt(s, 10)+"-"+strconv.FormatInt(e-1, 10)+"/"+strconv.FormatInt(size, 10))
		}
	}
	h.Set("Content-Length", strconv.FormatInt(end-start, 10))
	if q.Method == http.MethodHead {
		q.w.WriteHeader(status)
		return true, nil
	}
	unavailable := func(err error) (bool, error) {
		h.Del("Content-Range")
		h.Del("Content-Length")
		if errors.Is(err, upstream.ErrNotFound) || errors.Is(err, upstream.ErrUnavailable) {
			q.h.log().Warn("upstream NAR unavailable", "bucket", q.bucket, "key", q.key, "err", err)
			return true, errorf("NoSuchKey", "")
		}
		return true, err
	}
	d, err := q.h.Pull.FetchNAR(q.Context(), q.bucket, q.key)
	if err != nil {
		return unavailable(err)
	}
	defer d.Close()
	r, err := d.NewReader(q.Context(), start, end-start)
	if err != nil {
		return true, err
	}
	defer r.Close()
	// The status waits for the first bytes: an upstream that no longer
	// has the file (or is down) is a miss the client can act on (Nix
	// tries its next substituter), not a 200 cut before its body.
	first := make([]byte, 32<<10)
	n, err := io.ReadAtLeast(r, first, 1)
	if n == 0 && err != nil && !errors.Is(err, io.EOF) {
		if q.Context().Err() != nil {
			return true, err
		}
		return unavailable(err)
	}
	q.w.WriteHeader(status)
	_, err = q.w.Write(first[:n])
	if err == nil {
		_, err = io.Copy(q.w, r)
	}
	if err != nil {
		if q.Context().Err() == nil {
			q.h.log().Warn("upstream NAR cut short: closing the connection", "bucket", q.bucket, "key", q.key, "err", err)
		}
		// Abort the response: the client sees a broken connection, never
		// a complete 200 of bad bytes.
		panic(http.ErrAbortHandler)
	}
	return true, nil
}

// auxContentType is the Content-Type of a listing or build log key, ""
// for any other key.
func auxContentType(key string) string {
	if h, ok := strings.CutSuffix(key, ".ls"); ok && binarycache.IsNarinfoKey(h+".narinfo") {
		return "application/json"
	}
	if name, ok := strings.CutPrefix(key, "log/"); ok && name != "" && name[0] != '.' &&
		!strings.ContainsAny(name, "/\\\x00") && !strings.Contains(name, "..") {
		return "text/plain; charset=utf-8"
	}
	return ""
}

// servePulledAux answers a GET or HEAD of a .ls listing or a build log
// the bucket lacks with the first upstream's copy, passed through as
// `nixbucket proxy` passes them (not stored: small, rarely asked for, and
// checked by nothing). It reports whether it answered; an upstream miss
// or failure is the bucket's miss. A body cut short upstream cuts the
// client's connection, never a complete 200.
func servePulledAux(q *request) (bool, error) {
	ct := auxContentType(q.key)
	if ct == "" || !mayPull(q) {
		return false, nil
	}
	body, size, err := q.h.Pull.Open(q.Context(), q.bucket, q.key)
	if err != nil {
		if errors.Is(err, upstream.ErrNotFound) || errors.Is(err, upstream.ErrUnavailable) {
			return false, nil
		}
		return true, err
	}
	defer body.Close()
	h := q.w.Header()
	h.Set("Content-Type", ct)
	if size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	q.w.WriteHeader(http.StatusOK)
	if q.Method == http.MethodHead {
		return true, nil
	}
	if n, err := io.Copy(q.w, body); err != nil || size >= 0 && n != size {
		q.h.log().Warn("upstream file cut short: closing the connection", "bucket", q.bucket, "key", q.key, "err", err)
		panic(http.ErrAbortHandler)
	}
	return true, nil
}
