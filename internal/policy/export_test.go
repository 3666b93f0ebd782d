package policy

// The binaries never print a Decision, read a context key by name or ask
// for a document's Version: these are for the tests.

// String names a decision in test failures.
func (d Decision) String() string {
	switch d {
	case Allow:
		return "Allow"
	case ExplicitDeny:
		return "ExplicitDeny"
	}
	return "Deny"
}

// Value returns the string value of the condition key named key (any case)
// and whether the request context has it; evaluation resolves keys when
// the policy is parsed.
func (r *Request) Value(key string) (string, bool) {
	id, ok := lookupKey(key)
	if !ok {
		return "", false
	}
	return r.str(id)
}

// Version returns the document's Version element, or "" when absent.
func (p *Policy) Version() string { return p.version }
