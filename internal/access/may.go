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
	gen, err := s.current(ctx)
	if err != nil {
		return false, err
	}
	prefix := policy.ObjectARN(bucket, "")
	bp, err := s.bucketPolicy(ctx, gen, bucket)
	if err != nil {
		return false, err
	}
	if id.Anonymous {
		return bp.MayAllow(&policy.Principal{}, action, prefix), nil
	}
	principal := policy.User(s.account, id.User)
	user, err := s.userPolicy(ctx, gen, id.User)
	if err != nil {
		return false, err
	}
	if !user.MayAllow(&principal, action, prefix) && !bp.MayAllow(&principal, action, prefix) {
		return false, nil
	}
	if id.TokenID != "" {
		e, err := s.token(ctx, gen, id.TokenID)
		if err != nil {
			return false, nil
		}
		if e.policy != nil && !e.policy.MayAllow(&principal, action, prefix) {
			return false, nil
		}
	}
	return true, nil
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
	gen, err := s.current(ctx)
	if err != nil {
		return false, err
	}
	prefix := policy.ObjectARN(bucket, "")
	bp, err := s.bucketPolicy(ctx, gen, bucket)
	if err != nil {
		return false, err
	}
	req := policy.Request{Action: action, Context: s.context(r, action)}
	var user, narrow *policy.Policy
	if !id.Anonymous {
		req.Principal = policy.User(s.account, id.User)
		if user, err = s.userPolicy(ctx, gen, id.User); err != nil {
			return false, err
		}
		if id.TokenID != "" {
			e, err := s.token(ctx, gen, id.TokenID)
			if err != nil {
				return false, nil
			}
			narrow = e.policy
		}
	}
	if !user.MayAllowFor(&req, prefix) && !bp.MayAllowFor(&req, prefix) {
		return false, nil
	}
	if user.DeniesAllFor(&req, prefix) || bp.DeniesAllFor(&req, prefix) {
		return false, nil
	}
	if narrow != nil && (!narrow.MayAllowFor(&req, prefix) || narrow.DeniesAllFor(&req, prefix)) {
		return false, nil
	}
	return true, nil
}
