package policy

// MayAllow reports whether some Allow statement of p could apply to a
// request by principal for action on a resource that starts with prefix,
// whatever its conditions and whatever Deny statements say. false means no
// such request can be allowed by p, so a server may refuse one before
// reading its body (DeleteObjects names its keys only in the body). A nil
// policy allows nothing. principal is ignored for identity policies.
func (p *Policy) MayAllow(principal *Principal, action, prefix string) bool {
	if p == nil {
		return false
	}
	for i := range p.stmts {
		s := &p.stmts[i]
		if s.deny {
			continue
		}
		if matchAny(s.actions, action, nil, true) == s.notAction {
			continue
		}
		if p.kind == bucketPolicy && s.principals.match(principal) == s.notPrincipal {
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
