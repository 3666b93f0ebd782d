// Package pinapi serves pins over HTTP, for CI that pins what it pushed:
//
//	PUT    /-/api/buckets/BUCKET/pins/NAME   {"storePath": "/nix/store/…", "keep": 2}
//	GET    /-/api/buckets/BUCKET/pins        [{"name": …, "paths": […], …}, …]
//	GET    /-/api/buckets/BUCKET/pins/NAME
//	DELETE /-/api/buckets/BUCKET/pins/NAME
//
// Callers are known exactly as on the S3 and binary-cache protocols (an S3
// signature, Bearer or netrc Basic credentials, or nobody) and decided by
// the same policy evaluation, on the resource arn:aws:s3:::BUCKET: writes
// (PUT, DELETE) need nixbucket:Pin, reads need s3:ListBucket — whoever may
// list the bucket's keys may see which of them are pinned. Errors are
// JSON {"error": "…", "code": "…"}.
package pinapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/pins"
	"github.com/nixbucket/nixbucket/internal/policy"
	"github.com/nixbucket/nixbucket/internal/s3api"
)

// MaxBody bounds a request body: a pin is a store path and a number.
const MaxBody = 64 << 10

// Prefix is where the API lives; Handler answers paths below it.
const Prefix = "/-/api/buckets/"

// Handler serves the pins API.
type Handler struct {
	Pins *pins.Service
	// Identify authenticates a request as the S3 front end does
	// (s3api.Handler.Identify).
	Identify func(*http.Request) (access.Identity, io.Reader, error)
	// Authorize is the one policy decision (access.Service.Authorize).
	Authorize func(ctx context.Context, r *http.Request, id access.Identity, action, resource string) error
	Log       *slog.Logger
}

// PinJSON is a pin as the API shows it.
type PinJSON struct {
	Name string `json:"name"`
	// StorePath is the newest of Paths.
	StorePath string    `json:"storePath"`
	Paths     []string  `json:"paths"`
	Keep      int       `json:"keep"`
	Updated   time.Time `json:"updated"`
}

// PutBody is what PUT takes.
type PutBody struct {
	StorePath string `json:"storePath"`
	// Keep is how many revisions the pin keeps; omitted or 0 leaves the
	// pin's (1 for a new pin).
	Keep int `json:"keep,omitempty"`
}

// ErrorJSON is an error answer.
type ErrorJSON struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func toJSON(p meta.Pin) PinJSON {
	j := PinJSON{Name: p.Name, Paths: p.Paths, Keep: p.Keep, Updated: p.Updated.UTC()}
	if j.Paths == nil {
		j.Paths = []string{}
	}
	if len(p.Paths) > 0 {
		j.StorePath = p.Paths[0]
	}
	return j
}

// apiError is an answer to send as ErrorJSON.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func fail(status int, code, msg string) *apiError { return &apiError{status, code, msg} }

// ServeHTTP answers one request under Prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.serve(w, r); err != nil {
		h.writeError(w, r, err)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	bucket, name, named, ok := splitPath(r.URL.EscapedPath())
	if !ok {
		return fail(http.StatusNotFound, "NotFound", "no such API endpoint: "+r.URL.Path)
	}
	var action string
	switch {
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		action = "s3:ListBucket"
	case named && (r.Method == http.MethodPut || r.Method == http.MethodDelete):
		action = policy.ActionPin
	default:
		allow := "GET, HEAD"
		if named {
			allow = "GET, HEAD, PUT, DELETE"
		}
		w.Header().Set("Allow", allow)
		return fail(http.StatusMethodNotAllowed, "MethodNotAllowed", r.Method+" is not allowed on "+r.URL.Path)
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	}
	id, body, err := h.Identify(r)
	if err != nil {
		return err
	}
	if err := h.Authorize(r.Context(), r, id, action, "arn:aws:s3:::"+bucket); err != nil {
		if errors.Is(err, access.ErrDenied) && id.Anonymous {
			w.Header().Set("WWW-Authenticate", `Basic realm="nixbucket"`)
			return fail(http.StatusUnauthorized, "Unauthorized", "credentials required for "+action+" on bucket "+bucket)
		}
		return err
	}
	ctx := r.Context()
	switch {
	case !named:
		ps, err := h.Pins.List(ctx, bucket)
		if err != nil {
			return err
		}
		out := make([]PinJSON, len(ps))
		for i, p := range ps {
			out[i] = toJSON(p)
		}
		return writeJSON(w, r, http.StatusOK, out)
	case r.Method == http.MethodPut:
		var in PutBody
		if err := readJSON(body, &in); err != nil {
			return err
		}
		if in.StorePath == "" {
			return fail(http.StatusBadRequest, "InvalidArgument", `the body needs "storePath"`)
		}
		p, err := h.Pins.Add(ctx, bucket, name, in.StorePath, in.Keep)
		if err != nil {
			return err
		}
		h.log().Info("pin moved", "bucket", bucket, "pin", name, "path", p.Paths[0], "keep", p.Keep, "user", id.User)
		return writeJSON(w, r, http.StatusOK, toJSON(p))
	case r.Method == http.MethodDelete:
		if err := h.Pins.Remove(ctx, bucket, name); err != nil {
			return err
		}
		h.log().Info("pin removed", "bucket", bucket, "pin", name, "user", id.User)
		w.WriteHeader(http.StatusNoContent)
		return nil
	default:
		p, err := h.Pins.Get(ctx, bucket, name)
		if err != nil {
			return err
		}
		return writeJSON(w, r, http.StatusOK, toJSON(p))
	}
}

// splitPath finds the bucket and pin name in an escaped path
// Prefix+"BUCKET/pins[/NAME]"; each is unescaped on its own, so an escaped
// slash stays inside the name (and is refused there).
func splitPath(escaped string) (bucket, name string, named, ok bool) {
	rest, ok := strings.CutPrefix(escaped, Prefix)
	parts := strings.Split(rest, "/")
	if !ok || len(parts) < 2 || len(parts) > 3 || parts[1] != "pins" {
		return "", "", false, false
	}
	bucket, err := url.PathUnescape(parts[0])
	if err != nil || bucket == "" {
		return "", "", false, false
	}
	if len(parts) == 3 {
		if name, err = url.PathUnescape(parts[2]); err != nil || name == "" {
			return "", "", false, false
		}
		named = true
	}
	return bucket, name, named, true
}

// readJSON decodes the whole body (so that a signed payload hash is
// checked before anything is done) into v, refusing unknown fields.
func readJSON(body io.Reader, v any) error {
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fail(http.StatusBadRequest, "MalformedJSON", "the body is not the JSON expected: "+err.Error())
	}
	if dec.More() {
		return fail(http.StatusBadRequest, "MalformedJSON", "the body holds more than one JSON value")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
	return nil
}

// writeError answers err as ErrorJSON with its status.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := h.classify(err)
	if e.status >= 500 {
		h.log().Error("pins API", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, r, e.status, ErrorJSON{Error: e.msg, Code: e.code})
}

// classify maps an error of any layer to an answer.
func (h *Handler) classify(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var se *s3api.Error
	if errors.As(err, &se) {
		return fail(s3api.Status(se.Code), se.Code, se.Message)
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fail(http.StatusRequestEntityTooLarge, "BodyTooLarge", "the body is larger than 64 KiB")
	}
	table := []struct {
		err    error
		status int
		code   string
	}{
		{access.ErrDenied, http.StatusForbidden, "AccessDenied"},
		{access.ErrBadCredentials, http.StatusForbidden, "AccessDenied"},
		{meta.ErrNoSuchBucket, http.StatusNotFound, "NoSuchBucket"},
		{meta.ErrNoSuchPin, http.StatusNotFound, "NoSuchPin"},
		{pins.ErrNotPushed, http.StatusNotFound, "NoSuchNarinfo"},
		{pins.ErrInvalid, http.StatusBadRequest, "InvalidArgument"},
	}
	for _, t := range table {
		if errors.Is(err, t.err) {
			return fail(t.status, t.code, err.Error())
		}
	}
	return fail(http.StatusInternalServerError, "InternalError", "internal error")
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}
