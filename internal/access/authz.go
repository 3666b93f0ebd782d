package access

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/nixbucket/nixbucket/internal/forwarded"
	"github.com/nixbucket/nixbucket/internal/policy"
)

// Authorize decides whether id may perform action (such as "s3:GetObject")
// on resource (an S3 ARN) for request r, as AWS does: root may do
// anything; otherwise an explicit Deny anywhere wins, and an Allow from the
// user's policy or the bucket's policy is needed — within what the token's
// own policy allows, when a token was used. It returns nil or an error
// wrapping ErrDenied.
func (s *Service) Authorize(ctx context.Context, r *http.Request, id Identity, action, resource string) error {
	return s.authorize(ctx, r, id, action, resource, false)
}

// AuthorizeList is Authorize of action (s3:ListBucket, or
// s3:ListBucketVersions) on bucket ARN resource for r, a request that
// lists the bucket's keys (ListObjects, ListObjectVersions): r's prefix,
// delimiter and max-keys query parameters are the s3:prefix, s3:delimiter
// and s3:max-keys condition keys, as AWS gives both actions. Only the
// listing whose answer they shape may supply them: given to any other
// request (HeadBucket, a console page, the pin API), a "?prefix=" the
// caller adds would pass a condition meant to bound what they may list.
func (s *Service) AuthorizeList(ctx context.Context, r *http.Request, id Identity, action, resource string) error {
	return s.authorize(ctx, r, id, action, resource, true)
}

func (s *Service) authorize(ctx context.Context, r *http.Request, id Identity, action, resource string, listing bool) error {
	if id.Root {
		return nil
	}
	gen, err := s.current(ctx)
	if err != nil {
		return err
	}
	req := policy.Request{Action: action, Resource: resource}
	var user, narrow, bucket *policy.Policy
	if !id.Anonymous {
		req.Principal = policy.User(s.account, id.User)
		if user, err = s.userPolicy(ctx, gen, id.User); err != nil {
			return err
		}
		if id.TokenID != "" {
			e, err := s.token(ctx, gen, id.TokenID)
			if err != nil {
				return fmt.Errorf("%w: token %s: %v", ErrBadCredentials, id.TokenID, err)
			}
			narrow = e.policy
		}
	}
	if b := bucketOf(resource); b != "" {
		if bucket, err = s.bucketPolicy(ctx, gen, b); err != nil {
			return err
		}
	}
	if user.NeedsContext() || narrow.NeedsContext() || bucket.NeedsContext() {
		req.Context = s.context(r, listing)
	}
	if policy.DecideNarrowed(user, narrow, bucket, &req) == policy.Allow {
		return nil
	}
	return &deniedError{action, resource}
}

// deniedError is ErrDenied for one action and resource. Refusals are
// common (a public cache answers every missing path with one), so it is
// formatted only when printed.
type deniedError struct{ action, resource string }

func (e *deniedError) Error() string {
	return fmt.Sprintf("%v: %s on %s", ErrDenied, e.action, e.resource)
}

func (e *deniedError) Unwrap() error { return ErrDenied }

// bucketOf returns the bucket an S3 ARN names, "" for none.
func bucketOf(resource string) string {
	rest, ok := strings.CutPrefix(resource, "arn:aws:s3:::")
	if !ok {
		return ""
	}
	b, _, _ := strings.Cut(rest, "/")
	if b == "*" {
		return ""
	}
	return b
}

// context fills the condition keys nixbucket supplies; the listing ones
// only for a listing (see AuthorizeList).
func (s *Service) context(r *http.Request, listing bool) policy.Context {
	c := policy.Context{CurrentTime: s.now()}
	if r == nil {
		return c
	}
	c.SecureTransport = forwarded.Secure(r)
	c.SourceIP = forwarded.SourceAddr(r)
	c.UserAgent = headerValue(r.Header, "User-Agent")
	c.Referer = headerValue(r.Header, "Referer")
	if listing && r.URL.RawQuery != "" {
		q := r.URL.Query()
		c.Prefix, c.HasPrefix = first(q["prefix"])
		c.Delimiter, c.HasDelimiter = first(q["delimiter"])
		c.MaxKeys, c.HasMaxKeys = first(q["max-keys"])
	}
	return c
}

// headerValue is r.Header.Get for a canonical name, without canonicalising.
func headerValue(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func first(vs []string) (string, bool) {
	if len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

// GrantsAnonymous reports whether the bucket's policy grants anonymous
// callers anything: a refused anonymous request there is an ordinary 403,
// while elsewhere it asks for credentials (401).
func (s *Service) GrantsAnonymous(ctx context.Context, bucket string) (bool, error) {
	gen, err := s.current(ctx)
	if err != nil {
		return false, err
	}
	p, err := s.bucketPolicy(ctx, gen, bucket)
	if err != nil {
		return false, err
	}
	return p.GrantsAnonymous(), nil
}

// ContextFree reports whether every decision on an anonymous request for
// bucket depends on its action and resource alone: the bucket's policy
// (the only one an anonymous request meets) has no condition that reads
// the request, its time or its transport. Such an answer holds for an
// identical request until the store's generation moves.
func (s *Service) ContextFree(ctx context.Context, bucket string) bool {
	gen, err := s.current(ctx)
	if err != nil {
		return false
	}
	p, err := s.bucketPolicy(ctx, gen, bucket)
	return err == nil && !p.NeedsContext()
}
