package access

import (
	"context"

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
