package policy

// MayAllow reports whether some Allow statement of p could apply to a
// request by principal for action on a resource that starts with prefix,
// whatever its conditions and whatever Deny statements say. false means no
// such request can be allowed by p, so a server may refuse one before
// reading its body (DeleteObjects names its keys only in the body). A nil
// policy allows nothing. principal is ignored for identity policies.
func (p *Policy) MayAllow(principal *Principal, action, prefix string) bool {
	r := Request{Action: action}
	if principal != nil {
		r.Principal = *principal
	}
	return p.mayAllow(&r, prefix, false)
}

// MayAllowFor is MayAllow for one request r (its Principal, Action and
// Context; its Resource is ignored): an Allow statement counts only when
// its conditions hold for r. The condition keys nixbucket supplies name no
// object, so what a condition says of r it says of every object under
// prefix. Deny statements are left to DeniesAllFor.
func (p *Policy) MayAllowFor(r *Request, prefix string) bool {
	return p.mayAllow(r, prefix, true)
}

// mayAllow is MayAllow, and with conds MayAllowFor.
func (p *Policy) mayAllow(r *Request, prefix string, conds bool) bool {
	if p == nil {
		return false
	}
	q := *r
	q.Resource = prefix
	for i := range p.stmts {
		s := &p.stmts[i]
		if s.deny || matchAny(s.actions, q.Action, &q, true) == s.notAction || !s.names(p.kind, &q) || (conds && !s.conditionsHold(&q)) {
			continue
		}
		if s.notResource {
			return true
		}
		for j := range s.resources {
			if s.resources[j].mayMatchUnder(prefix, prefix) {
				return true
			}
		}
	}
	return false
}

// DeniesAllFor reports whether a Deny statement of p whose conditions hold
// for r (as in MayAllowFor) refuses r's action on every resource under
// prefix.
func (p *Policy) DeniesAllFor(r *Request, prefix string) bool {
	if p == nil {
		return false
	}
	q := *r
	q.Resource = prefix
	for i := range p.stmts {
		s := &p.stmts[i]
		if s.deny && matchAny(s.actions, q.Action, &q, true) != s.notAction && s.names(p.kind, &q) &&
			s.conditionsHold(&q) && s.coversAllUnder(&q, prefix) {
			return true
		}
	}
	return false
}

// names reports whether the statement's Principal or NotPrincipal element
// takes in r's principal (always, in identity policies).
func (s *statement) names(k kind, r *Request) bool {
	if k != bucketPolicy {
		return true
	}
	if s.notPrincipal {
		if s.deny {
			return !s.principals.excludes(&r.Principal)
		}
		return !s.principals.match(&r.Principal)
	}
	return s.principals.match(&r.Principal)
}

func (s *statement) conditionsHold(r *Request) bool {
	for i := range s.conds {
		if !s.conds[i].eval(r) {
			return false
		}
	}
	return true
}

// coversAllUnder reports whether the statement's resources take in every
// resource under prefix: a pattern that matches prefix followed by bytes
// no key holds (NUL and the like), one of them and several across a "/",
// matches what follows prefix whatever it is, as "*" does; a NotResource
// element none of whose patterns may match under prefix excludes none of
// them.
func (s *statement) coversAllUnder(r *Request, prefix string) bool {
	if s.notResource {
		for j := range s.resources {
			if s.resources[j].mayMatchUnder(prefix, prefix) {
				return false
			}
		}
		return true
	}
	for j := range s.resources {
		if s.resources[j].match(prefix+"\x00", r, false) && s.resources[j].match(prefix+"\x00\x01/\x02\x03", r, false) {
			return true
		}
	}
	return false
}
