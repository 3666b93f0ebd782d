package s3api

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/cors"
)

// CORS keeps buckets' CORS configurations (cors.Service).
type CORS interface {
	// Config is the bucket's configuration, nil for none.
	Config(ctx context.Context, bucket string) (*cors.Config, error)
	Set(ctx context.Context, bucket string, c *cors.Config) error
	Delete(ctx context.Context, bucket string) error
}

// opPreflight names the OPTIONS requests browsers send before a
// cross-origin request (OPTIONS object, in S3's API reference).
const opPreflight = "OptionsPreflight"

func putBucketCors(q *request) error {
	if err := q.allow("s3:PutBucketCORS", q.bucketARN()); err != nil {
		return err
	}
	if q.h.CORS == nil {
		return errorf("NotImplemented", "")
	}
	if _, err := q.h.Objects.Bucket(q.Context(), q.bucket); err != nil {
		return err
	}
	body, err := readXMLBody(q)
	if err != nil {
		return err
	}
	if err := checkDigests(q, body); err != nil {
		return err
	}
	c, err := cors.Parse(body)
	if err != nil {
		return corsError(err)
	}
	if err := q.h.CORS.Set(q.Context(), q.bucket, c); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

func getBucketCors(q *request) error {
	if err := q.allow("s3:GetBucketCORS", q.bucketARN()); err != nil {
		return err
	}
	if _, err := q.h.Objects.Bucket(q.Context(), q.bucket); err != nil {
		return err
	}
	var c *cors.Config
	if q.h.CORS != nil {
		var err error
		if c, err = q.h.CORS.Config(q.Context(), q.bucket); err != nil {
			return err
		}
	}
	if c == nil {
		return errorf("NoSuchCORSConfiguration", "")
	}
	q.w.Header().Set("Content-Type", "application/xml")
	q.w.WriteHeader(http.StatusOK)
	q.w.Write(c.Marshal())
	return nil
}

// deleteBucketCors needs s3:PutBucketCORS, as on AWS (there is no
// s3:DeleteBucketCORS action).
func deleteBucketCors(q *request) error {
	if err := q.allow("s3:PutBucketCORS", q.bucketARN()); err != nil {
		return err
	}
	if q.h.CORS == nil {
		return errorf("NotImplemented", "")
	}
	if err := q.h.CORS.Delete(q.Context(), q.bucket); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

func corsError(err error) error {
	if e, ok := cors.IsError(err); ok {
		return errorf(e.Code, e.Message)
	}
	return err
}

// bucketCORS returns the bucket's configuration, nil for none or when it
// cannot be read (logged when quiet is false: the request goes on without
// CORS headers).
func (h *Handler) bucketCORS(q *request, quiet bool) *cors.Config {
	if h.CORS == nil || q.bucket == "" {
		return nil
	}
	c, err := h.CORS.Config(q.Context(), q.bucket)
	if err != nil {
		if !quiet {
			h.log().LogAttrs(q.Context(), slog.LevelWarn, "reading the bucket's CORS configuration", slog.String("bucket", q.bucket), slog.String("err", err.Error()))
		}
		return nil
	}
	return c
}

// annotateCORS sets the Vary header of every request to a bucket with a
// CORS configuration, Origin or not (see cors.Annotate), and the
// Access-Control-* headers of one that came with an Origin, before it is
// authenticated, so that a browser can show the page its errors too (as
// S3 does). A configuration that cannot be read is logged only for a
// request with an Origin, the one that misses its headers.
func (h *Handler) annotateCORS(q *request) {
	if q.Method == http.MethodOptions {
		return
	}
	origin := ""
	if o := q.Header["Origin"]; len(o) > 0 {
		origin = o[0]
	}
	if c := h.bucketCORS(q, origin == ""); c != nil {
		c.Annotate(q.w.Header(), q.Request, origin)
	}
}

// servePreflight answers an OPTIONS request to a bucket or an object from
// the bucket's configuration. It carries no credentials: browsers send
// none with a preflight.
func (h *Handler) servePreflight(q *request) {
	q.op = opPreflight
	q.note.Op = opIndex[opPreflight]
	q.id = access.Identity{Anonymous: true}
	if err := cors.Preflight(h.bucketCORS(q, false), q.w.Header(), q.Request); err != nil {
		h.writeError(q.w, q.Request, corsError(err))
		return
	}
	q.w.Header().Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusOK)
}
