// Package console is nixbucket's web console at /-/ui/: server-rendered
// pages (html/template, embedded with the CSS; no JavaScript, nothing
// fetched from elsewhere, so it works offline) over the same services the
// S3 API, the binary-cache protocol and the CLI use, and the same policy
// decision (access.Service.Authorize). There is no SQL here.
//
// Who is asking. A visitor signs in with an access key id and its secret,
// or with a token, checked exactly as HTTP Basic and Bearer credentials
// are (access.Service.HTTPIdentity). The session is a cookie (HttpOnly,
// SameSite=Strict, Secure when the request came over TLS, path /-/ui/)
// carrying the key id or token id, an expiry and a random session id,
// MAC'd (HMAC-SHA256) with a key kept in the metadata store (the setting
// KeySetting, made once by whichever node needs it first). Nothing is
// held in memory per session, so behind a load balancer every node
// accepts the sessions of every other one, and a restart signs nobody
// out. The cookie never holds a secret, and every request checks again
// that its key is enabled or its token neither revoked nor expired: a
// revocation ends console sessions at once, on every node. Signing out
// clears the cookie; a copied cookie stays valid until it expires
// (SessionTTL) unless its credentials go.
//
// What they may see and do is decided per page and action by Authorize,
// on the ARNs the APIs use: a bucket is listed when the caller could read
// some object of it with this request, the policies' conditions looked at
// (the anonymous-read policy makes a bucket visible to everyone; one only
// an address range may read, to that range); searching, recent pushes, largest closures and referrers need
// s3:ListBucket, and name only the paths whose narinfo the caller may read
// (listing gives a bucket's keys, the hashes, not its paths' names); a
// store path page s3:GetObject on its narinfo (and on
// its .ls and log to show them); creating a bucket s3:CreateBucket;
// reading and editing a policy s3:GetBucketPolicy and s3:PutBucketPolicy
// (s3:DeleteBucketPolicy to remove it). Tokens and signing keys are
// managed by the admin (root) alone, as in the CLI, where they need the
// admin's data directory.
//
// CSRF: every state-changing form carries a token derived from the session
// id (HMAC), checked in constant time; a POST without it gets 403. The
// sign-in form has one too: visiting it gives an anonymous visitor a
// session of its own.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/cors"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/observe"
	"github.com/nixbucket/nixbucket/internal/traffic"
)

// Prefix is where the console lives.
const Prefix = "/-/ui/"

// KeySetting is the metadata store setting holding the session MAC key.
const KeySetting = "console-session-key"

// SignedOutSetting prefixes the settings that count, per key or token,
// its sign-outs of the console.
const SignedOutSetting = "console-signed-out:"

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Handler serves the console. Create it with New.
type Handler struct {
	store   meta.Store
	access  *access.Service
	objects *objects.Service
	traffic *traffic.Counters
	tstore  traffic.Store
	node    string
	scheme  string
	log     *slog.Logger
	key     []byte
	now     func() time.Time // the clock; nil: time.Now
	pages   map[string]*template.Template
	mux     *http.ServeMux
	graphs  graphs
	stats   stats
	// listings are the parsed .ls listings of the paths shown last.
	listings listings
	cors     *cors.Service // nil: the store keeps no CORS configurations
	refused  func(error)   // Config.Refused
}

// Config is what the console needs.
type Config struct {
	Store   meta.Store
	Access  *access.Service
	Objects *objects.Service
	// Traffic are the server's counters, Node its id in the store's
	// traffic table.
	Traffic *traffic.Counters
	Node    string
	// Scheme is what the server is served over ("http", "https") when
	// the request does not say (a proxy terminating TLS).
	Scheme string
	// Key is the session MAC key (see SessionKey).
	Key []byte
	Log *slog.Logger
	// Refused, when set, is told of every sign-in whose credentials did
	// not check out (the server counts them as the APIs' failures).
	Refused func(err error)
}

// New returns the console's handler.
func New(c Config) (*Handler, error) {
	if len(c.Key) < 32 {
		return nil, errors.New("console: the session key must have 32 bytes at least")
	}
	h := &Handler{store: c.Store, tstore: c.Store, access: c.Access, objects: c.Objects, traffic: c.Traffic,
		node: c.Node, scheme: c.Scheme, log: c.Log, key: c.Key, refused: c.Refused}
	if h.log == nil {
		h.log = slog.Default()
	}
	if st, ok := c.Store.(cors.Store); ok {
		h.cors = &cors.Service{Store: st}
	}
	if h.scheme == "" {
		h.scheme = "http"
	}
	var err error
	if h.pages, err = parsePages(); err != nil {
		return nil, err
	}
	h.routes()
	return h, nil
}

func (h *Handler) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFiles, "static")
	m.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", staticHandler(static)))
	m.HandleFunc("GET "+Prefix+"{$}", h.page(h.buckets))
	m.HandleFunc("GET "+Prefix+"login", h.page(h.loginForm))
	m.HandleFunc("POST "+Prefix+"login", h.action(h.login))
	m.HandleFunc("POST "+Prefix+"logout", h.action(h.logout))
	m.HandleFunc("GET "+Prefix+"traffic", h.page(h.trafficPage))
	m.HandleFunc("POST "+Prefix+"buckets", h.action(h.createBucket))
	m.HandleFunc("GET "+Prefix+"b/{bucket}", h.page(h.bucket))
	m.HandleFunc("GET "+Prefix+"b/{bucket}/p/{hash}", h.page(h.storePath))
	m.HandleFunc("GET "+Prefix+"b/{bucket}/file/{key...}", h.file)
	m.HandleFunc("GET "+Prefix+"b/{bucket}/policy", h.page(h.policyForm))
	m.HandleFunc("POST "+Prefix+"b/{bucket}/policy", h.action(h.setPolicy))
	m.HandleFunc("POST "+Prefix+"b/{bucket}/keys", h.action(h.generateKey))
	m.HandleFunc("GET "+Prefix+"tokens", h.page(h.tokens))
	m.HandleFunc("POST "+Prefix+"tokens", h.action(h.createToken))
	m.HandleFunc("POST "+Prefix+"tokens/{id}/revoke", h.action(h.revokeToken))
	h.mux = m
}

func staticHandler(files fs.FS) http.Handler {
	fsrv := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}

// ServeHTTP answers requests under Prefix.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	// No page may be framed, sniffed, or load anything from elsewhere.
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	h.mux.ServeHTTP(w, r)
}

// caller is who asks, with their session.
type caller struct {
	id      access.Identity
	sess    session
	hasSess bool
	label   string // what the header shows
}

// who resolves the session to an identity, checking again that its
// credentials are still good; a session whose are not is dropped.
func (h *Handler) who(w http.ResponseWriter, r *http.Request) caller {
	s, ok := h.readSession(r)
	c := caller{id: access.Identity{Anonymous: true}, sess: s, hasSess: ok, label: "anonymous"}
	if !ok || !s.signedIn() {
		return c
	}
	ctx := r.Context()
	var id access.Identity
	var err error
	switch {
	case s.Key != "":
		id, err = h.access.KeyIdentity(ctx, s.Key)
		c.label = id.User + " (key " + s.Key + ")"
	default:
		var t meta.Token
		t, err = h.store.Token(ctx, s.Token)
		if err == nil && !t.Expires.IsZero() && time.Now().After(t.Expires) {
			err = fmt.Errorf("%w: token %s expired", access.ErrBadCredentials, s.Token)
		}
		id = access.Identity{User: t.User, TokenID: s.Token}
		c.label = t.User + " (token " + s.Token + ")"
	}
	if err == nil {
		err = h.checkSignedOut(ctx, s)
	}
	if err != nil {
		h.log.Info("console session dropped", "err", err)
		h.clearSession(w, r)
		return caller{id: access.Identity{Anonymous: true}, label: "anonymous"}
	}
	c.id = id
	noteCaller(w, id)
	return c
}

// noteCaller names id as the request's principal in the access log
// (observe.Note), when w comes from the server's observer.
func noteCaller(w http.ResponseWriter, id access.Identity) {
	if n := observe.NoteOf(w); n != nil && !id.Anonymous {
		n.Principal, n.Token = id.User, id.TokenID
	}
}

// signIn checks credentials as the binary-cache protocol does (HTTP
// Basic with a key id and secret; Bearer with a token), and returns the
// identity they sign in as.
func (h *Handler) signIn(ctx context.Context, keyID, secret, token string) (access.Identity, error) {
	probe := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	if token != "" {
		probe.Header.Set("Authorization", "Bearer "+token)
	} else {
		probe.SetBasicAuth(keyID, secret)
	}
	id, _, err := h.access.HTTPIdentity(ctx, probe)
	return id, err
}

// allowed is the one policy decision, as the APIs take it.
func (h *Handler) allowed(r *http.Request, c caller, action, resource string) bool {
	err := h.access.Authorize(r.Context(), r, c.id, action, resource)
	if err != nil && !errors.Is(err, access.ErrDenied) {
		h.log.Warn("console: policy decision failed", "action", action, "resource", resource, "err", err)
	}
	return err == nil
}

// visible reports whether the caller may see a bucket in the console:
// when some object of it could be read by this request, its conditions
// (source address, TLS…) looked at, as the APIs would for it.
func (h *Handler) visible(r *http.Request, c caller, bucket string) bool {
	ok, err := h.access.MayAllowInBucketFor(r.Context(), r, c.id, "s3:GetObject", bucket)
	return err == nil && ok
}

func bucketARN(b string) string      { return "arn:aws:s3:::" + b }
func objectARN(b, key string) string { return "arn:aws:s3:::" + b + "/" + key }

// httpError is an answer other than the page: a status and a message.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func fail(status int, format string, args ...any) error {
	return &httpError{status, fmt.Sprintf(format, args...)}
}

// view is what a page handler returns: the template and its data.
type view struct {
	name   string
	title  string
	data   any
	status int
}

// page adapts a page handler: it resolves the caller and renders.
func (h *Handler) page(fn func(w http.ResponseWriter, r *http.Request, c *caller) (view, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := h.who(w, r)
		v, err := fn(w, r, &c)
		if err != nil {
			h.renderError(w, r, c, err)
			return
		}
		h.render(w, r, c, v)
	}
}

// MaxForm bounds a form's body (a policy document is the largest).
const MaxForm = 256 << 10

// action adapts a form handler: it refuses POSTs without the session's
// CSRF token (403), before anything else is looked at.
func (h *Handler) action(fn func(w http.ResponseWriter, r *http.Request, c *caller) (view, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxForm)
		c := h.who(w, r)
		if err := r.ParseForm(); err != nil {
			h.renderError(w, r, c, fail(http.StatusBadRequest, "unreadable form: %v", err))
			return
		}
		if !c.hasSess || !h.checkCSRF(r, c.sess) {
			h.renderError(w, r, c, fail(http.StatusForbidden, "this form lacks its CSRF token, or it belongs to another session: reload the page and try again"))
			return
		}
		v, err := fn(w, r, &c)
		if err != nil {
			h.renderError(w, r, c, err)
			return
		}
		if v.name == "" { // done: the handler redirected
			return
		}
		h.render(w, r, c, v)
	}
}

// redirect ends an action with a 303 to a console page.
func redirect(w http.ResponseWriter, r *http.Request, path string) (view, error) {
	http.Redirect(w, r, path, http.StatusSeeOther)
	return view{}, nil
}

func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, c caller, err error) {
	var he *httpError
	switch {
	case errors.As(err, &he):
	case errors.Is(err, meta.ErrNoSuchBucket), errors.Is(err, meta.ErrNoSuchKey):
		he = &httpError{http.StatusNotFound, "not found"}
	case errors.Is(err, objects.ErrInvalidKey), errors.Is(err, objects.ErrKeyTooLong):
		// A key no object can have (empty, not UTF-8, too long): a URL
		// typed or cut short, not the server's fault.
		he = &httpError{http.StatusNotFound, "not found: " + err.Error()}
	default:
		h.log.Error("console", "path", r.URL.Path, "err", err)
		he = &httpError{http.StatusInternalServerError, "internal error: see the server's log"}
	}
	h.render(w, r, c, view{name: "error", title: "Error", status: he.status, data: he.msg})
}
