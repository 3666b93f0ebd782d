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
	"encoding/binary"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/observe"
	"github.com/nixbucket/nixbucket/internal/sigv4"
)

// Handler serves the S3 API.
type Handler struct {
	Objects  *objects.Service
	Verifier *sigv4.Verifier
	// Access authenticates keys and tokens and makes every access decision.
	Access *access.Service
	// Nix, when set, makes every bucket a Nix binary cache: a synthesised
	// nix-cache-info, and narinfo reads recorded.
	Nix NixCache
	// Lifecycle, when set, keeps buckets' lifecycle configurations.
	Lifecycle Lifecycle
	Region    string
	// Domain enables virtual-host addressing: Host BUCKET.Domain.
	Domain string
	Log    *slog.Logger
	// Refused, if set, learns of every failed authentication with the
	// error behind it, which may say more than the client's answer (an
	// expired token, a wrong Basic secret). It must not block.
	Refused func(r *http.Request, err error)
	// Redirect, when set, answers GETs of NARs with a 307 to the blob
	// store (see redirectRead).
	Redirect Redirector
	// Pull, when set, fills the misses of pull-through buckets from their
	// upstreams (pull.go).
	Pull Puller
	// CORS, when set, keeps buckets' CORS configurations and answers
	// browsers' preflights and cross-origin requests with them (cors.go).
	CORS CORS
	// Replays lets anonymous misses be given again without this handler
	// (replay.go).
	Replays bool
	// Unavailable, when set, names the backend an error shows unreachable
	// ("the metadata store"), or returns "": such errors are answered 503
	// ServiceUnavailable saying so, not 500 InternalError.
	Unavailable func(err error) string
	// CompleteQuiet is how long a CompleteMultipartUpload may work, once
	// its request passed the checks, before its 200 is sent and spaces
	// keep the connection alive (complete.go): 0 means a second, a
	// negative value at once.
	CompleteQuiet time.Duration
}

// refused tells Refused of a failed authentication.
func (h *Handler) refused(r *http.Request, err error) {
	if h.Refused != nil {
		h.Refused(r, err)
	}
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
	rid    [1]string // the request id, backing both of its headers
	bucket string
	key    string
	query  url.Values
	auth   *sigv4.Result
	id     access.Identity
	// ver is the bucket's objects Version read before a replayable read
	// looked anything up (verOK: read), see replay.go.
	ver   objects.Version
	verOK bool
	// plain marks the binary-cache protocol: a request not signed the S3
	// way (anonymous, Bearer or Basic) from a client that is no S3 SDK.
	// Its errors are plain text rather than S3 XML.
	plain bool
	// op and sub are the operation routed to and its subresource, for
	// log lines.
	op, sub string
	rt      *routed // the route found, nil when none
	// note is what the metrics and the access log learn of the request
	// (see observe.go).
	note *observe.Note
	// sameUploads is set by an operation that left the uploads open as
	// they were although its route usually opens or closes one (a
	// CompleteMultipartUpload repeated).
	sameUploads bool
}

// NixCache is what the S3 front end asks of the binary-cache layer.
type NixCache interface {
	// CacheInfo is the nix-cache-info of a bucket that holds none.
	CacheInfo(ctx context.Context, bucket string) ([]byte, error)
	// Touch records a read of key (counted only for narinfos).
	Touch(bucket, key string)
}

func (q *request) has(name string) bool {
	_, ok := q.query[name]
	return ok
}

// ServeHTTP routes one S3 request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := &request{w: w, h: h}
	q.rid[0] = requestID()
	q.note = noteOf(w)
	q.note.RequestID = q.rid[0]
	hdr := w.Header()
	hdr["X-Amz-Request-Id"] = q.rid[:]
	hdr["X-Amz-Id-2"] = q.rid[:]
	hdr["Server"] = serverHeader

	r = BoundRequest(w, r)
	q.Request = r
	q.bucket, q.key = h.splitPath(r)
	q.note.Bucket, q.note.Key = q.bucket, q.key
	var err error
	q.query = noQuery
	if r.URL.RawQuery != "" {
		q.query, err = url.ParseQuery(r.URL.RawQuery)
	}
	if err != nil {
		h.writeError(w, r, errorf("InvalidArgument", "malformed query string"))
		return
	}
	if q.rt = find(q); q.rt != nil {
		q.note.Op = q.rt.opIndex
	}
	if r.Method == http.MethodOptions && q.bucket != "" {
		h.servePreflight(q)
		return
	}
	if h.CORS != nil {
		h.annotateCORS(q)
	}
	if err := h.authenticate(q); err != nil {
		q.noteNix(plainGuess(r))
		h.fail(q, err)
		return
	}
	q.noteIdentity()
	q.noteNix(q.plain)
	if err := h.route(q); err != nil {
		h.fail(q, err)
	}
}

// authenticate finds who sent the request: an S3 signature (V4 or V2),
// plain-HTTP credentials (Bearer token or Basic), or nobody.
func (h *Handler) authenticate(q *request) error {
	ctx := q.Context()
	if len(q.Header["Authorization"]) > 1 {
		// Which one counts would be this server's guess, and a proxy in
		// front may have guessed otherwise (RFC 9110 allows one).
		return errorf("InvalidArgument", "Only one Authorization header is allowed.")
	}
	id, ok, err := h.Access.HTTPIdentity(ctx, q.Request)
	if ok {
		if err != nil {
			if !errors.Is(err, access.ErrBadCredentials) {
				// Not a refusal: the keys could not be looked up (the
				// metadata store is away). A 403 would tell Nix the path
				// is missing, and it would remember that for an hour.
				return err
			}
			h.refused(q.Request, err)
			return errorf("AccessDenied", strings.TrimPrefix(err.Error(), access.ErrBadCredentials.Error()+": "))
		}
		q.id = id
		q.plain = !fromS3Client(q.Request)
		q.auth = &sigv4.Result{Body: q.Body, DecodedLength: q.ContentLength}
		if q.Body == nil || q.Body == http.NoBody {
			q.auth.Body = http.NoBody
		}
		return nil
	}
	if q.auth, err = h.Verifier.Verify(q.Request); err != nil {
		if _, auth := err.(*sigv4.Error); auth {
			h.refused(q.Request, err)
		}
		return err
	}
	if q.auth.Anonymous {
		q.id = access.Identity{Anonymous: true}
		q.plain = !fromS3Client(q.Request)
		return nil
	}
	q.id, err = h.Access.KeyIdentity(ctx, q.auth.AccessKeyID)
	if errors.Is(err, access.ErrBadCredentials) {
		// A disabled key: answered as an unknown one or a wrong secret.
		h.refused(q.Request, err)
		return errorf("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	}
	return err
}

var (
	noQuery      = url.Values{} // read-only: shared by requests without a query
	serverHeader = []string{"nixbucket"}
	ridPrefix    = func() uint64 { var b [8]byte; rand.Read(b[:]); return binary.BigEndian.Uint64(b[:]) }()
	ridCounter   atomic.Uint64
)

// RequestID returns a fresh request id, for nixbucket's endpoints beside
// S3 (their answers carry an x-amz-request-id too, which the access log
// names).
func RequestID() string { return requestID() }

// requestID returns a unique request id: a per-process random prefix and
// a counter, cheaper than fresh randomness on every request.
func requestID() string {
	var b [32]byte
	return string(strconv.AppendUint(b[:0], ridPrefix^ridCounter.Add(1), 16))
}

// s3Agents are the User-Agent marks of S3 SDKs and tools, as they spell
// them (aws-sdk-go-v2, aws-sdk-cpp, aws-cli, Boto3/Botocore, minio-go,
// s3cmd, rclone).
var s3Agents = []string{"aws-sdk", "aws-cli", "Boto", "boto", "MinIO", "minio", "s3cmd", "rclone"}

// fromS3Client reports whether an unsigned request comes from an S3 SDK or
// tool (aws --no-sign-request, boto3, aws-sdk-cpp without credentials),
// which expect S3 XML errors, rather than from Nix, curl or a browser.
func fromS3Client(r *http.Request) bool {
	for name := range r.Header {
		if strings.HasPrefix(name, "X-Amz-") {
			return true
		}
	}
	var ua string
	if v := r.Header["User-Agent"]; len(v) > 0 {
		ua = v[0]
	}
	for _, s := range s3Agents {
		if strings.Contains(ua, s) {
			return true
		}
	}
	return false
}

// splitPath finds the bucket and key, by virtual host when the Host is a
// subdomain of Domain, else path-style /BUCKET/KEY.
func (h *Handler) splitPath(r *http.Request) (bucket, key string) {
	path := r.URL.Path
	// The same function finds the bucket a SigV2 signature covers.
	if b, ok := sigv4.VirtualHostBucket(r.Host, h.Domain); ok {
		return b, strings.TrimPrefix(path, "/")
	}
	path = strings.TrimPrefix(path, "/")
	bucket, key, _ = strings.Cut(path, "/")
	return bucket, key
}

// handlerFunc serves one operation and returns an error to be written as
// S3 XML, or nil when it wrote the response itself.
type handlerFunc func(*request) error

// notFound answers a bucket sub-resource nixbucket never has with its
// "no such configuration" error, after the usual checks.
func notFound(action, code string) handlerFunc {
	return func(q *request) error {
		if err := q.allow(action, q.bucketARN()); err != nil {
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

// allow asks Access whether the caller may do action on resource.
func (q *request) allow(action, resource string) error {
	return denied(q.h.Access.Authorize(q.Context(), q.Request, q.id, action, resource))
}

// denied turns a refusal by the policies into S3's AccessDenied.
func denied(err error) error {
	if errors.Is(err, access.ErrDenied) || errors.Is(err, access.ErrBadCredentials) {
		return errorf("AccessDenied", "")
	}
	return err
}
