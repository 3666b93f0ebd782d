package console

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/binarycache"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/objects"
)

// createBucket creates a bucket as S3 CreateBucket does (objects.Service,
// whose hook gives it a signing key), for a caller allowed
// s3:CreateBucket on it.
func (h *Handler) createBucket(w http.ResponseWriter, r *http.Request, c *caller) (view, error) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if !h.allowed(r, *c, "s3:CreateBucket", bucketARN(name)) {
		return view{}, fail(http.StatusForbidden, "you may not create bucket %q (s3:CreateBucket)", name)
	}
	err := h.objects.CreateBucket(r.Context(), name)
	msg := ""
	switch {
	case errors.Is(err, meta.ErrBucketExists):
		msg = "Bucket " + name + " already exists."
	case errors.Is(err, objects.ErrInvalidBucketName):
		msg = err.Error()
	case err != nil:
		return view{}, err
	}
	if msg != "" {
		d, err := h.bucketList(r, c)
		if err != nil {
			return view{}, err
		}
		d.Error, d.NewName = msg, name
		return view{name: "buckets", title: "Buckets", status: http.StatusBadRequest, data: d}, nil
	}
	h.log.Info("console: bucket created", "bucket", name, "user", c.id.User)
	return redirect(w, r, Prefix+"b/"+url.PathEscape(name))
}

type policyData struct {
	Bucket  string
	Policy  string
	Error   string
	Saved   bool
	CanEdit bool
}

// policyForm shows a bucket's policy to a caller allowed
// s3:GetBucketPolicy.
func (h *Handler) policyForm(w http.ResponseWriter, r *http.Request, c *caller) (view, error) {
	bucket := r.PathValue("bucket")
	if !h.allowed(r, *c, "s3:GetBucketPolicy", bucketARN(bucket)) {
		return view{}, fail(http.StatusForbidden, "you may not read the policy of bucket %q (s3:GetBucketPolicy)", bucket)
	}
	doc, err := h.access.BucketPolicy(r.Context(), bucket)
	if err != nil && !errors.Is(err, meta.ErrNoSuchBucketPolicy) {
		return view{}, err
	}
	d := policyData{Bucket: bucket, Policy: string(doc), Saved: r.URL.Query().Get("saved") != "",
		CanEdit: h.allowed(r, *c, "s3:PutBucketPolicy", bucketARN(bucket))}
	return view{name: "policy", title: "Policy of " + bucket, data: d}, nil
}

// setPolicy validates and stores a policy (access.SetBucketPolicy, as
// S3 PutBucketPolicy), showing the parser's message inline when it does
// not validate. An empty document removes the policy.
func (h *Handler) setPolicy(w http.ResponseWriter, r *http.Request, c *caller) (view, error) {
	bucket := r.PathValue("bucket")
	doc := strings.TrimSpace(r.PostFormValue("policy"))
	action := "s3:PutBucketPolicy"
	if doc == "" {
		action = "s3:DeleteBucketPolicy"
	}
	if !h.allowed(r, *c, action, bucketARN(bucket)) {
		return view{}, fail(http.StatusForbidden, "you may not change the policy of bucket %q (%s)", bucket, action)
	}
	if _, err := h.store.Bucket(r.Context(), bucket); err != nil {
		return view{}, err
	}
	var err error
	if doc == "" {
		err = h.access.DeleteBucketPolicy(r.Context(), bucket)
	} else {
		err = h.access.SetBucketPolicy(r.Context(), bucket, []byte(doc))
	}
	if errors.Is(err, access.ErrMalformedPolicy) {
		return view{name: "policy", title: "Policy of " + bucket, status: http.StatusBadRequest,
			data: policyData{Bucket: bucket, Policy: doc, Error: err.Error(), CanEdit: true}}, nil
	}
	if err != nil {
		return view{}, err
	}
	h.log.Info("console: bucket policy set", "bucket", bucket, "user", c.id.User, "removed", doc == "")
	return redirect(w, r, Prefix+"b/"+url.PathEscape(bucket)+"/policy?saved=1")
}

// generateKey adds a signing key to a bucket (binarycache.NewSigningKey,
// as `nixbucket bucket key generate`): the admin's alone.
func (h *Handler) generateKey(w http.ResponseWriter, r *http.Request, c *caller) (view, error) {
	bucket := r.PathValue("bucket")
	if !c.id.Root {
		return view{}, fail(http.StatusForbidden, "only the admin may generate signing keys")
	}
	if _, err := h.store.Bucket(r.Context(), bucket); err != nil {
		return view{}, err
	}
	k, err := binarycache.NewSigningKey(r.Context(), h.store, bucket, "")
	if err != nil {
		return view{}, err
	}
	h.log.Info("console: signing key generated", "bucket", bucket, "key", k.Name)
	return redirect(w, r, Prefix+"b/"+url.PathEscape(bucket)+"?key="+url.QueryEscape(k.Public().String()))
}

type tokensData struct {
	Tokens  []meta.Token
	Users   []meta.User
	Created string // the new token's text, shown once
	NewID   string
	Error   string
	Now     time.Time
}

// tokens lists tokens and offers to create one: the admin's alone, as
// `nixbucket token`.
func (h *Handler) tokens(w http.ResponseWriter, r *http.Request, c *caller) (view, error) {
	if !c.id.Root {
		return view{}, fail(http.StatusForbidden, "only the admin may manage tokens")
	}
	d, err := h.tokenList(r)
	if err != nil {
		return view{}, err
	}
	return view{name: "tokens", title: "Tokens", data: d}, nil
}

func (h *Handler) tokenList(r *http.Request) (tokensData, error) {
	var d tokensData
	var err error
	if d.Tokens, err = h.store.Tokens(r.Context()); err != nil {
		return d, err
	}
	if d.Users, err = h.store.Users(r.Context()); err != nil {
		return d, err
	}
	d.Now = time.Now()
	return d, nil
}

// createToken makes a token (access.Service.CreateToken, as `nixbucket
// token create`) and shows its text once: the server keeps only a hash.
func (h *Handler) createToken(w http.ResponseWriter, r *http.Request, c *caller) (view, error) {
	if !c.id.Root {
		return view{}, fail(http.StatusForbidden, "only the admin may create tokens")
	}
	user := r.PostFormValue("user")
	var ttl time.Duration
	if days := r.PostFormValue("days"); days != "" && days != "0" {
		d, err := time.ParseDuration(days + "h")
		if err != nil || d <= 0 {
			return view{}, fail(http.StatusBadRequest, "lifetime %q: give a whole number of days", days)
		}
		ttl = d * 24
	}
	var doc []byte
	if p := strings.TrimSpace(r.PostFormValue("policy")); p != "" {
		doc = []byte(p)
	}
	text, t, err := h.access.CreateToken(r.Context(), user, ttl, doc)
	d, lerr := h.tokenList(r)
	if lerr != nil {
		return view{}, lerr
	}
	switch {
	case errors.Is(err, access.ErrMalformedPolicy), errors.Is(err, meta.ErrNoSuchUser):
		d.Error = err.Error()
		return view{name: "tokens", title: "Tokens", status: http.StatusBadRequest, data: d}, nil
	case err != nil:
		return view{}, err
	}
	h.log.Info("console: token created", "token", t.ID, "user", user)
	d.Created, d.NewID = text, t.ID
	return view{name: "tokens", title: "Tokens", data: d}, nil
}

// revokeToken deletes a token (as `nixbucket token revoke`).
func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request, c *caller) (view, error) {
	if !c.id.Root {
		return view{}, fail(http.StatusForbidden, "only the admin may revoke tokens")
	}
	id := r.PathValue("id")
	if err := h.store.DeleteToken(r.Context(), id); err != nil && !errors.Is(err, meta.ErrNoSuchToken) {
		return view{}, err
	}
	h.log.Info("console: token revoked", "token", id)
	return redirect(w, r, Prefix+"tokens")
}
