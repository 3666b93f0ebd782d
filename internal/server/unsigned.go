package server

import (
	"context"
	"fmt"
)

// warnUnsigned logs a warning for every bucket without a signing key:
// what is pushed there is stored unsigned, and Nix with require-sigs
// (its default) will not substitute from it. Buckets made since every new
// bucket gets a key have one unless their owner removed it; older data
// directories may hold keyless ones. Keys are not made for them here: a
// keyless bucket may be deliberate (narinfos that carry their uploader's
// signatures only), so the warning names the command instead.
func (s *Server) warnUnsigned(ctx context.Context) error {
	buckets, err := s.meta.Buckets(ctx)
	if err != nil {
		return fmt.Errorf("listing buckets: %w", err)
	}
	for _, b := range buckets {
		keys, err := s.meta.SigningKeys(ctx, b.Name)
		if err != nil {
			return fmt.Errorf("signing keys of bucket %s: %w", b.Name, err)
		}
		if len(keys) == 0 {
			s.log.Warn("bucket has no signing key: narinfos pushed to it are stored unsigned",
				"bucket", b.Name, "fix", fmt.Sprintf("nixbucket bucket key generate --data %s %s", s.opts.Data, b.Name))
		}
	}
	return nil
}
