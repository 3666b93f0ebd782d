// Package s3api speaks the S3 REST protocol: it routes requests, turns them
// into calls on the object core, and writes AWS's XML, headers and errors.
//
// It never touches disk. Authentication is sigv4's job; whether an
// authenticated (or anonymous) caller may do an action is decided by one
// Authorize call, so the binary-cache protocol can share the decision.
package s3api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/sigv4"
)

// Identity is who sent a request.
type Identity struct {
	Anonymous bool
	AccessKey string
	User      string
}

// Authorizer decides whether id may perform action (an IAM action such as
// "s3:GetObject") on resource (an ARN such as "arn:aws:s3:::bucket/key").
// It returns nil to allow, or an error (usually an *Error AccessDenied).
type Authorizer func(ctx context.Context, r *http.Request, id Identity, action, resource string) error

// Handler serves the S3 API.
type Handler struct {
	Objects   *objects.Service
	Verifier  *sigv4.Verifier
	Authorize Authorizer
	// UserOf maps an access key to its user name (for Identity.User).
	UserOf func(ctx context.Context, accessKey string) string
	Region string
	// Domain enables virtual-host addressing: Host BUCKET.Domain.
	Domain string
	Log    *slog.Logger
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

// request is an authenticated S3 request being served.
type request struct {
	*http.Request
	w      http.ResponseWriter
	h      *Handler
	bucket string
	key    string
	query  url.Values
	auth   *sigv4.Result
	id     Identity
}

func (q *request) has(name string) bool {
	_, ok := q.query[name]
	return ok
}

// ServeHTTP routes one S3 request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var rid [8]byte
	rand.Read(rid[:])
	w.Header().Set("x-amz-request-id", strings.ToUpper(hex.EncodeToString(rid[:])))
	w.Header().Set("x-amz-id-2", hex.EncodeToString(rid[:]))
	w.Header().Set("Server", "nixbucket")

	r = boundRequest(w, r)
	q := &request{Request: r, w: w, h: h}
	q.bucket, q.key = h.splitPath(r)
	var err error
	if q.query, err = url.ParseQuery(r.URL.RawQuery); err != nil {
		h.writeError(w, r, errorf("InvalidArgument", "malformed query string"))
		return
	}
	if q.auth, err = h.Verifier.Verify(r); err != nil {
		h.writeError(w, r, err)
		return
	}
	q.id = Identity{Anonymous: q.auth.Anonymous, AccessKey: q.auth.AccessKeyID}
	if !q.id.Anonymous && h.UserOf != nil {
		q.id.User = h.UserOf(r.Context(), q.id.AccessKey)
	}
	if err := h.route(q); err != nil {
		h.writeError(w, r, err)
	}
}

// splitPath finds the bucket and key, by virtual host when the Host is a
// subdomain of Domain, else path-style /BUCKET/KEY.
func (h *Handler) splitPath(r *http.Request) (bucket, key string) {
	path := r.URL.Path
	if h.Domain != "" {
		host := r.Host
		if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
			host = host[:i]
		}
		if b, ok := strings.CutSuffix(host, "."+h.Domain); ok && b != "" {
			return b, strings.TrimPrefix(path, "/")
		}
	}
	path = strings.TrimPrefix(path, "/")
	bucket, key, _ = strings.Cut(path, "/")
	return bucket, key
}

// handlerFunc serves one operation and returns an error to be written as
// S3 XML, or nil when it wrote the response itself.
type handlerFunc func(*request) error

// route picks the operation from the method, the presence of bucket and
// key, and the sub-resource query keys. Unknown query keys (such as the
// SDKs' x-id) are ignored.
func (h *Handler) route(q *request) error {
	op := h.operation(q)
	if op == nil {
		return errorf("MethodNotAllowed", "")
	}
	return op(q)
}

func (h *Handler) operation(q *request) handlerFunc {
	switch {
	case q.bucket == "":
		if q.Method == http.MethodGet {
			return listBuckets
		}
		return nil
	case q.key == "":
		return bucketOperation(q)
	default:
		return objectOperation(q)
	}
}

func bucketOperation(q *request) handlerFunc {
	switch q.Method {
	case http.MethodGet:
		switch {
		case q.has("location"):
			return getBucketLocation
		case q.has("uploads"):
			return listUploads
		case q.has("versioning"):
			return getBucketVersioning
		case q.has("acl"):
			return getACL
		case q.has("policy"):
			return notFound("NoSuchBucketPolicy")
		case q.has("cors"):
			return notFound("NoSuchCORSConfiguration")
		case q.has("lifecycle"):
			return notFound("NoSuchLifecycleConfiguration")
		case q.has("tagging"):
			return notFound("NoSuchTagSet")
		case unsupported(q):
			return notImplemented
		case q.query.Get("list-type") == "2":
			return listObjectsV2
		default:
			return listObjectsV1
		}
	case http.MethodHead:
		return headBucket
	case http.MethodPut:
		if unsupported(q) || q.has("acl") || q.has("policy") {
			return notImplemented
		}
		return createBucket
	case http.MethodDelete:
		if unsupported(q) || q.has("policy") {
			return notImplemented
		}
		return deleteBucket
	case http.MethodPost:
		if q.has("delete") {
			return deleteObjects
		}
	}
	return nil
}

func objectOperation(q *request) handlerFunc {
	switch q.Method {
	case http.MethodGet:
		switch {
		case q.has("uploadId"):
			return listParts
		case q.has("acl"):
			return getACL
		case q.has("tagging") || q.has("torrent") || q.has("retention") || q.has("legal-hold") || q.has("attributes"):
			return notImplemented
		}
		return getObject
	case http.MethodHead:
		return headObject
	case http.MethodPut:
		switch {
		case q.has("partNumber") && q.has("uploadId"):
			if q.Header.Get("x-amz-copy-source") != "" {
				return notImplemented
			}
			return uploadPart
		case q.has("acl") || q.has("tagging") || q.has("retention") || q.has("legal-hold"):
			return notImplemented
		case q.Header.Get("x-amz-copy-source") != "":
			return copyObject
		}
		return putObject
	case http.MethodDelete:
		if q.has("uploadId") {
			return abortUpload
		}
		return deleteObject
	case http.MethodPost:
		switch {
		case q.has("uploads"):
			return createUpload
		case q.has("uploadId"):
			return completeUpload
		}
	}
	return nil
}

// unsupported reports bucket sub-resources nixbucket does not implement.
func unsupported(q *request) bool {
	for _, k := range []string{"website", "replication", "logging", "notification", "encryption", "object-lock",
		"ownershipControls", "publicAccessBlock", "requestPayment", "accelerate", "analytics", "inventory",
		"metrics", "intelligent-tiering", "versions", "cors", "lifecycle", "tagging"} {
		if q.has(k) {
			return true
		}
	}
	return false
}

func notImplemented(*request) error { return errorf("NotImplemented", "") }

func notFound(code string) handlerFunc {
	return func(q *request) error {
		if err := q.allow("s3:GetBucketPolicy", q.bucketARN()); err != nil {
			return err
		}
		if _, err := q.h.Objects.Bucket(q.Context(), q.bucket); err != nil {
			return err
		}
		return errorf(code, "")
	}
}

func (q *request) bucketARN() string { return "arn:aws:s3:::" + q.bucket }
func (q *request) objectARN() string { return "arn:aws:s3:::" + q.bucket + "/" + q.key }

// allow asks the Authorizer; anonymous requests are refused when none is set.
func (q *request) allow(action, resource string) error {
	if q.h.Authorize == nil {
		if q.id.Anonymous {
			return errorf("AccessDenied", "")
		}
		return nil
	}
	return q.h.Authorize(q.Context(), q.Request, q.id, action, resource)
}
