package policy

// Names is what a policy's statements name, for callers that know the
// users and buckets and can warn about a name that matches nothing (a typo
// that leaves a grant without effect).
type Names struct {
	// Principals are the user ARNs and account ids of the Principal and
	// NotPrincipal elements, without "*".
	Principals []string
	// Buckets are the bucket names of the Resource elements' ARNs that
	// name one bucket exactly (no wildcard in the name).
	Buckets []string
}

// Names returns what p's statements name, in order, without repeats.
func (p *Policy) Names() Names {
	var n Names
	seen := map[string]bool{}
	add := func(list *[]string, s string) {
		if !seen[s] {
			seen[s] = true
			*list = append(*list, s)
		}
	}
	for _, st := range p.stmts {
		for _, a := range st.principals.arns {
			add(&n.Principals, a)
		}
		for _, a := range st.principals.accounts {
			add(&n.Principals, a)
		}
		if st.notResource {
			continue
		}
		for _, r := range st.resources {
			if b, ok := exactBucket(r.raw); ok {
				add(&n.Buckets, b)
			}
		}
	}
	return n
}

// exactBucket returns the bucket an S3 ARN names when its bucket part has
// no wildcard: arn:aws:s3:::BUCKET or arn:aws:s3:::BUCKET/….
func exactBucket(arn string) (string, bool) {
	const prefix = "arn:aws:s3:::"
	if len(arn) <= len(prefix) || arn[:len(prefix)] != prefix {
		return "", false
	}
	b := arn[len(prefix):]
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '/':
			return b[:i], i > 0
		case '*', '?', '$':
			return "", false
		}
	}
	return b, true
}
