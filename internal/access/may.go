package access

import (
	"context"
	"net/http"

	"github.com/nixbucket/nixbucket/internal/policy"
)

// MayAllowInBucket reports whether id could be allowed action on some
// object of bucket, by the policies alone and before any condition is
// looked at: false means every such request would be refused. DeleteObjects
// asks it before reading a body whose keys it needs for the real decisions,
// so a caller nothing could allow is refused without being read.
func (s *Service) MayAllowInBucket(ctx context.Context, id Identity, action, bucket string) (bool, error) {
	if id.Root {
		return true, nil
	}
	ps, ok, err := s.policiesOf(ctx, id, bucket)
	if err != nil || !ok {
		return false, err
	}
	prefix := policy.ObjectARN(bucket, "")
	if !ps.user.MayAllow(&ps.principal, action, prefix) && !ps.bucket.MayAllow(&ps.principal, action, prefix) {
		return false, nil
	}
	return ps.narrow == nil || ps.narrow.MayAllow(&ps.principal, action, prefix), nil
}

// MayAllowInBucketFor is MayAllowInBucket for the request r: the
// policies' conditions are looked at, for r (its source address, whether
// it came over TLS, the time…), and a Deny whose conditions hold for r
// and that covers every object of the bucket leaves nothing allowed. The
// console shows a visitor the buckets this allows them to read: a bucket
// only an address range may read is not shown to others.
func (s *Service) MayAllowInBucketFor(ctx context.Context, r *http.Request, id Identity, action, bucket string) (bool, error) {
	if id.Root {
		return true, nil
	}
	ps, ok, err := s.policiesOf(ctx, id, bucket)
	if err != nil || !ok {
		return false, err
	}
	prefix := policy.ObjectARN(bucket, "")
	req := policy.Request{Action: action, Principal: ps.principal, Context: s.context(r, false)}
	if !ps.user.MayAllowFor(&req, prefix) && !ps.bucket.MayAllowFor(&req, prefix) {
		return false, nil
	}
	if ps.user.DeniesAllFor(&req, prefix) || ps.bucket.DeniesAllFor(&req, prefix) {
		return false, nil
	}
	return ps.narrow == nil || (ps.narrow.MayAllowFor(&req, prefix) && !ps.narrow.DeniesAllFor(&req, prefix)), nil
}

// callerPolicies are the policies that decide for a caller in a bucket.
type callerPolicies struct {
	principal            policy.Principal // the zero Principal: anonymous
	user, bucket, narrow *policy.Policy   // nil: none
}

// policiesOf returns the policies deciding for id in bucket; ok is false
// for a token that is gone (nothing is allowed to it).
func (s *Service) policiesOf(ctx context.Context, id Identity, bucket string) (ps callerPolicies, ok bool, err error) {
	gen, err := s.current(ctx)
	if err != nil {
		return ps, false, err
	}
	if ps.bucket, err = s.bucketPolicy(ctx, gen, bucket); err != nil {
		return ps, false, err
	}
	if id.Anonymous {
		return ps, true, nil
	}
	ps.principal = policy.User(s.account, id.User)
	if ps.user, err = s.userPolicy(ctx, gen, id.User); err != nil {
		return ps, false, err
	}
	if id.TokenID != "" {
		e, err := s.token(ctx, gen, id.TokenID)
		if err != nil {
			return ps, false, nil
		}
		ps.narrow = e.policy
	}
	return ps, true, nil
}
