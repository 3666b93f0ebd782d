package console

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/binarycache"
	"github.com/nixbucket/nixbucket/internal/forwarded"
	"github.com/nixbucket/nixbucket/internal/meta"
)

// bucketRow is a line of the buckets page.
type bucketRow struct {
	Name     string
	Paths    int64
	NarBytes int64
	Public   bool
	LastPush time.Time
	Keys     []string
}

type bucketsData struct {
	Buckets   []bucketRow
	CanCreate bool
	Created   string
	Error     string
	NewName   string
}

func (h *Handler) buckets(w http.ResponseWriter, r *http.Request, c *caller) (view, error) {
	d, err := h.bucketList(r, c)
	if err != nil {
		return view{}, err
	}
	d.Created = r.URL.Query().Get("created")
	return view{name: "buckets", title: "Buckets", data: d}, nil
}

func (h *Handler) bucketList(r *http.Request, c *caller) (bucketsData, error) {
	ctx := r.Context()
	all, err := h.store.Buckets(ctx)
	if err != nil {
		return bucketsData{}, err
	}
	d := bucketsData{CanCreate: c.id.Root || (!c.id.Anonymous && h.allowed(r, *c, "s3:CreateBucket", bucketARN("*")))}
	for _, b := range all {
		if !h.visible(r, *c, b.Name) {
			continue
		}
		row := bucketRow{Name: b.Name}
		st, err := h.cacheStats(ctx, b.Name)
		if errors.Is(err, meta.ErrNoSuchBucket) {
			continue // deleted meanwhile
		}
		if err != nil {
			return bucketsData{}, err
		}
		row.Paths, row.NarBytes = st.Paths, st.NarBytes
		if rec, err := h.store.RecentNarinfos(ctx, b.Name, 1); err == nil && len(rec) > 0 {
			row.LastPush = rec[0].Created
		}
		row.Public, _ = h.access.MayAllowInBucket(ctx, anonymous, "s3:GetObject", b.Name)
		if row.Keys, err = binarycache.PublicKeys(ctx, h.store, b.Name); err != nil {
			return bucketsData{}, err
		}
		d.Buckets = append(d.Buckets, row)
	}
	return d, nil
}

// bucketData is the bucket page.
type bucketData struct {
	bucketRow
	CanList    bool
	Query      string
	Results    []meta.Narinfo
	Searched   bool
	Recent     []meta.Narinfo
	Largest    []closureRow
	Ranked     bool // false: the bucket is too large to rank here
	Retention  meta.Retention
	Pins       []meta.Pin
	NixConf    string
	Netrc      string
	NetrcNote  string
	CanPolicy  bool
	CanKeys    bool
	KeyCreated string
	// CanCORS: the caller may read the bucket's CORS configuration;
	// CORS is its rules, "origins: methods" each (none: no web page on
	// another origin may read the bucket).
	CanCORS bool
	CORS    []string
}

func (h *Handler) bucket(w http.ResponseWriter, r *http.Request, c *caller) (view, error) {
	ctx := r.Context()
	name := r.PathValue("bucket")
	if !h.visible(r, *c, name) {
		return view{}, fail(http.StatusNotFound, "no bucket %q that you may read", name)
	}
	b, err := h.store.Bucket(ctx, name)
	if err != nil {
		return view{}, err
	}
	d := bucketData{bucketRow: bucketRow{Name: b.Name}}
	st, err := h.cacheStats(ctx, name)
	if err != nil {
		return view{}, err
	}
	d.Paths, d.NarBytes = st.Paths, st.NarBytes
	d.Public, _ = h.access.MayAllowInBucket(ctx, anonymous, "s3:GetObject", name)
	if d.Keys, err = binarycache.PublicKeys(ctx, h.store, name); err != nil {
		return view{}, err
	}
	d.CanList = h.allowed(r, *c, "s3:ListBucket", bucketARN(name))
	if d.CanList {
		g, err := h.bucketGraph(ctx, name)
		if err != nil {
			return view{}, err
		}
		// Listing the bucket gives its keys, the paths' hashes; their
		// names and sizes are in the narinfos, which the lists below show
		// only of the paths the caller may read (a Deny can hide some).
		may := h.narinfoReader(r, c, name)
		d.Query = strings.TrimSpace(r.URL.Query().Get("q"))
		if d.Query != "" {
			d.Searched = true
			if d.Results, err = h.store.SearchNarinfos(ctx, name, d.Query, maxResults); err != nil {
				return view{}, err
			}
			if g != nil { // then names holding it anywhere
				d.Results = append(d.Results, g.containing(d.Query, d.Results, maxResults-len(d.Results))...)
			}
			d.Results = readable(d.Results, may)
		}
		if d.Recent, err = h.store.RecentNarinfos(ctx, name, 10); err != nil {
			return view{}, err
		}
		if len(d.Recent) > 0 {
			d.LastPush = d.Recent[0].Created
		}
		d.Recent = readable(d.Recent, may)
		if g != nil {
			d.Ranked = true
			d.Largest = g.largest(10, may)
		}
		if d.Retention, err = h.store.Retention(ctx, name); err != nil {
			return view{}, err
		}
		if d.Pins, err = h.store.Pins(ctx, name); err != nil {
			return view{}, err
		}
	}
	d.NixConf, d.Netrc, d.NetrcNote = h.nixConf(r, c, name, d.Keys, d.Public)
	d.CanPolicy = h.allowed(r, *c, "s3:GetBucketPolicy", bucketARN(name))
	if h.cors != nil && h.allowed(r, *c, "s3:GetBucketCORS", bucketARN(name)) {
		d.CanCORS = true
		cfg, err := h.cors.Config(ctx, name)
		if err != nil {
			return view{}, err
		}
		if cfg != nil {
			for _, rule := range cfg.Rules {
				d.CORS = append(d.CORS, strings.Join(rule.AllowedOrigins, " ")+": "+strings.Join(rule.AllowedMethods, " "))
			}
		}
	}
	d.CanKeys = c.id.Root
	d.KeyCreated = r.URL.Query().Get("key")
	return view{name: "bucket", title: "Bucket " + name, data: d}, nil
}

// narinfoReader returns whether the caller may read a path's narinfo
// in bucket (s3:GetObject), by its hash, deciding once per hash.
func (h *Handler) narinfoReader(r *http.Request, c *caller, bucket string) func(hash string) bool {
	seen := map[string]bool{}
	return func(hash string) bool {
		ok, done := seen[hash]
		if !done {
			ok = h.allowed(r, *c, "s3:GetObject", objectARN(bucket, hash+".narinfo"))
			seen[hash] = ok
		}
		return ok
	}
}

// readable returns the narinfos of ns the caller may read (may).
func readable(ns []meta.Narinfo, may func(hash string) bool) []meta.Narinfo {
	return slices.DeleteFunc(ns, func(n meta.Narinfo) bool { return !may(n.Hash) })
}

// nixConf returns the lines a user pastes: nix.conf's substituters and
// trusted-public-keys, and, for a signed-in user, a netrc line. A netrc
// line never holds a secret: the server keeps tokens only as hashes, and
// secret keys are not shown in pages; the line names the key id or user
// and leaves a placeholder for the password.
func (h *Handler) nixConf(r *http.Request, c *caller, bucket string, keys []string, public bool) (conf, netrc, note string) {
	scheme := h.scheme
	if forwarded.Secure(r) {
		scheme = "https"
	}
	host := r.Host
	u := url.URL{Scheme: scheme, Host: host, Path: "/" + bucket}
	conf = "substituters = " + u.String() + "\n"
	if len(keys) > 0 {
		conf += "trusted-public-keys = " + strings.Join(keys, " ") + "\n"
	}
	if !public {
		conf += "netrc-file = /etc/nix/netrc\n"
	}
	machine := host
	if i := strings.LastIndexByte(machine, ':'); i >= 0 && !strings.Contains(machine[i:], "]") {
		machine = machine[:i] // Nix matches netrc lines by host name alone
	}
	switch {
	case c.id.Anonymous:
		note = "Sign in to see the netrc line for your credentials."
	case c.id.TokenID != "":
		netrc = "machine " + machine + " login " + c.id.User + " password YOUR_TOKEN"
		note = "The server keeps only a hash of your token: put the token (nbt_…) in place of YOUR_TOKEN."
	default:
		netrc = "machine " + machine + " login " + c.id.AccessKey + " password YOUR_SECRET_ACCESS_KEY"
		note = "Put the secret access key of " + c.id.AccessKey + " in place of YOUR_SECRET_ACCESS_KEY; the console never shows secrets."
	}
	return conf, netrc, note
}

// loginData is the sign-in page.
type loginData struct {
	Error string
	KeyID string
}

func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request, c *caller) (view, error) {
	h.ensureSession(w, r, c)
	return view{name: "login", title: "Sign in", data: loginData{}}, nil
}

// ensureSession gives an anonymous visitor a session of their own, for the
// sign-in form's CSRF token.
func (h *Handler) ensureSession(w http.ResponseWriter, r *http.Request, c *caller) {
	if c.hasSess {
		return
	}
	c.sess, _ = h.newSession(r.Context(), "", "") // an anonymous one reads nothing
	c.hasSess = true
	h.setSession(w, r, c.sess)
}

// claimed is the log attribute naming the credentials a sign-in claimed:
// the token's id when it gave one (in its field, or pasted as the access
// key id), else the access key id; never a secret.
func claimed(keyID, token string) slog.Attr {
	if token == "" && strings.HasPrefix(keyID, access.TokenPrefix) {
		token = keyID
	}
	if token != "" {
		return slog.String("token_id", access.TokenID(token))
	}
	return slog.String("key_id", keyID)
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request, c *caller) (view, error) {
	keyID := strings.TrimSpace(r.PostFormValue("key_id"))
	secret := r.PostFormValue("secret")
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" && (keyID == "" || secret == "") {
		return view{name: "login", title: "Sign in", status: http.StatusBadRequest,
			data: loginData{Error: "Give an access key id and its secret, or a token.", KeyID: keyID}}, nil
	}
	id, err := h.signIn(r.Context(), keyID, secret, token)
	if err != nil {
		if h.refused != nil {
			h.refused(err)
		}
		h.log.Info("console sign-in refused", claimed(keyID, token), "remote", r.RemoteAddr, "err", err)
		return view{name: "login", title: "Sign in", status: http.StatusUnauthorized,
			data: loginData{Error: "Those credentials were not accepted.", KeyID: keyID}}, nil
	}
	noteCaller(w, id)
	key := id.AccessKey
	if id.TokenID != "" {
		key = ""
	}
	s, err := h.newSession(r.Context(), key, id.TokenID)
	if err != nil { // the store failed: not the credentials' fault
		return view{}, fmt.Errorf("signing in: %w", err)
	}
	h.setSession(w, r, s) // a new session id: the visitor's old CSRF token dies
	return redirect(w, r, Prefix)
}

// logout ends every console session of the caller's credentials, on every
// node, copies of the cookie included, then clears the cookie.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request, c *caller) (view, error) {
	if c.sess.signedIn() && !c.id.Anonymous {
		if err := h.signOut(r.Context(), c.sess); err != nil {
			return view{}, fmt.Errorf("signing out: %w", err)
		}
	}
	h.clearSession(w, r)
	return redirect(w, r, Prefix)
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
