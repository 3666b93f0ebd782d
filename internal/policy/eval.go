// Package policy evaluates AWS bucket policies and IAM identity policies the
// way AWS does, for every request nixbucket serves over S3 or the
// binary-cache protocol.
//
// Parse a document once with ParseBucket or ParseIdentity (both validate it
// strictly and report the statement and field at fault), keep the *Policy,
// and ask Decide for each request. Evaluation does no I/O and, for the
// condition keys nixbucket supplies as plain values, no allocation.
//
// The semantics follow the IAM User Guide: default deny; an explicit Deny in
// any policy wins; otherwise one Allow from the identity policy or the bucket
// policy suffices. Actions match case-insensitively and ARNs
// case-sensitively, both with '*' and '?' wildcards, '*' spanning '/'.
// Principals are "*" (anyone, anonymous included), {"AWS": "*"}, user ARNs,
// and account ids or root ARNs (any authenticated principal of the account);
// NotPrincipal, allowed with Deny only, exempts a user only when both its
// ARN and its account are listed, as AWS documents.
// Policy variables (${aws:username}, ${aws:username, 'default'}, ${*}, ${?},
// ${$}) are read in Resource, NotResource and String/Arn condition values
// when Version is "2012-10-17"; with "2008-10-17" or no Version they are
// literal text, as in AWS.
//
// Conditions cover the String, Numeric, Date, Bool, IpAddress, Arn and Null
// operators, each with IfExists (except Null) and the ForAnyValue: and
// ForAllValues: qualifiers. The keys nixbucket supplies are listed on
// Context; other keys AWS defines for S3 are accepted and always absent, and
// unknown keys are refused. A key absent from the request makes a condition
// false, except that negated operators (StringNotEquals, NotIpAddress, ...)
// and IfExists are then true, Null tests presence itself, ForAllValues is
// true and ForAnyValue false.
package policy

import "strings"

// Decision is the outcome of evaluating policies for one request. The zero
// value is the implicit deny.
type Decision uint8

const (
	// Deny is the implicit deny: no statement allowed the request.
	Deny Decision = iota
	// Allow means a statement allowed the request and none denied it.
	Allow
	// ExplicitDeny means a Deny statement matched; nothing overrides it.
	ExplicitDeny
)

// kind is what a policy is attached to.
type kind uint8

const (
	identityPolicy kind = iota + 1 // a user's or token's policy: no Principal
	bucketPolicy                   // a bucket's policy: Principal required
)

// Policy is a parsed, validated policy document. It is immutable and safe
// for concurrent use.
type Policy struct {
	kind    kind
	version string
	stmts   []statement
	// needsContext: some statement has conditions or policy variables.
	needsContext bool
}

// NeedsContext reports whether evaluating p may read Request.Context; when
// no policy of a decision does, callers may leave the Context empty. A nil
// policy needs none.
func (p *Policy) NeedsContext() bool { return p != nil && p.needsContext }

// statement is one compiled Statement.
type statement struct {
	sid          string
	deny         bool
	notAction    bool
	actions      []pattern // matched case-insensitively
	notResource  bool
	resources    []pattern
	notPrincipal bool
	principals   principals // bucket policies only
	conds        []condition
}

// principals is a compiled Principal or NotPrincipal element.
type principals struct {
	anyone   bool     // "*" or {"AWS": "*"}: every caller, anonymous included
	arns     []string // exact principal ARNs
	accounts []string // account ids: every authenticated principal in them
}

// match reports whether a Principal element names p: "*" names everyone,
// an account names every authenticated principal in it, an ARN names that
// principal.
func (ps *principals) match(p *Principal) bool {
	if ps.anyone {
		return true
	}
	if p.IsAnonymous() {
		return false
	}
	return contains(ps.accounts, p.Account) || contains(ps.arns, p.ARN)
}

// excludes reports whether a NotPrincipal element exempts p from its Deny.
// AWS checks each identity in the caller's chain, the account and then the
// user, and denies unless all are listed. The IAM User Guide: "When you use
// NotPrincipal, you must also specify the account ARN of the not-denied
// principal. Otherwise, the policy might deny access to the entire account
// containing the principal." So a user is exempt only when both its ARN and
// its account are listed, and an account entry alone exempts only the
// account's root. "*" exempts everyone; nothing exempts anonymous callers.
func (ps *principals) excludes(p *Principal) bool {
	if ps.anyone {
		return true
	}
	if p.IsAnonymous() || !contains(ps.accounts, p.Account) {
		return false
	}
	if p.Username == "" && strings.HasSuffix(p.ARN, ":root") {
		return true
	}
	return contains(ps.arns, p.ARN)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Evaluate returns this policy's verdict on r: ExplicitDeny if a Deny
// statement applies, else Allow if an Allow statement applies, else Deny.
// A statement applies when its action, resource, principal (bucket
// policies) and every condition match. A nil policy denies implicitly.
func (p *Policy) Evaluate(r *Request) Decision {
	if p == nil {
		return Deny
	}
	d := Deny
	for i := range p.stmts {
		s := &p.stmts[i]
		if !s.deny && d == Allow {
			continue // only a Deny can still change the answer
		}
		if s.applies(p.kind, r) {
			if s.deny {
				return ExplicitDeny
			}
			d = Allow
		}
	}
	return d
}

func (s *statement) applies(k kind, r *Request) bool {
	if matchAny(s.actions, r.Action, r, true) == s.notAction {
		return false
	}
	if matchAny(s.resources, r.Resource, r, false) == s.notResource {
		return false
	}
	if k == bucketPolicy {
		if s.notPrincipal {
			if s.principals.excludes(&r.Principal) {
				return false
			}
		} else if !s.principals.match(&r.Principal) {
			return false
		}
	}
	for i := range s.conds {
		if !s.conds[i].eval(r) {
			return false
		}
	}
	return true
}

func matchAny(ps []pattern, s string, r *Request, fold bool) bool {
	for i := range ps {
		if ps[i].match(s, r, fold) {
			return true
		}
	}
	return false
}

// Decide combines the caller's identity policy and the bucket's policy as
// AWS does within one account: an explicit deny in either wins; otherwise an
// Allow from either suffices; otherwise the request is implicitly denied.
// Either policy may be nil (anonymous callers have no identity policy).
// Callers with root credentials bypass policies and need not call Decide.
func Decide(identity, bucket *Policy, r *Request) Decision {
	a := identity.Evaluate(r)
	if a == ExplicitDeny {
		return ExplicitDeny
	}
	b := bucket.Evaluate(r)
	if b == ExplicitDeny {
		return ExplicitDeny
	}
	if a == Allow || b == Allow {
		return Allow
	}
	return Deny
}

// DecideNarrowed is Decide for a caller whose permissions are narrowed by a
// policy of its own, such as a token's: the request must also be allowed by
// narrow, and an explicit deny in narrow wins. A nil narrow narrows nothing.
func DecideNarrowed(identity, narrow, bucket *Policy, r *Request) Decision {
	d := Decide(identity, bucket, r)
	if narrow == nil || d == ExplicitDeny {
		return d
	}
	switch n := narrow.Evaluate(r); {
	case n == ExplicitDeny:
		return ExplicitDeny
	case n == Deny:
		return Deny
	}
	return d
}

// GrantsAnonymous reports whether some Allow statement of the policy names
// anonymous callers as its principal ("*"), whatever its actions,
// resources and conditions. The binary-cache protocol uses it to tell a
// public cache, where a refused anonymous request is an ordinary 403, from
// a private one, where it answers 401 so clients ask for credentials.
func (p *Policy) GrantsAnonymous() bool {
	if p == nil || p.kind != bucketPolicy {
		return false
	}
	anon := &Principal{}
	for i := range p.stmts {
		s := &p.stmts[i]
		if !s.deny && s.principals.match(anon) != s.notPrincipal {
			return true
		}
	}
	return false
}
