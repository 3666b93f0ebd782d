package objects

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// NamedHook is an optional ability of a Hook: keys whose names promise
// their content. Nix names a NAR file by the SHA-256 of its bytes (its
// FileHash), and a signed narinfo names that file; were other bytes
// allowed under the name, a writer could break every path whose narinfo
// points there (Nix refuses the NAR on its NarHash). So a write of such
// a key (a PUT, a copy, a completed multipart upload) whose bytes hash
// otherwise is refused, and nothing is stored.
type NamedHook interface {
	// CheckNamed returns nil when key promises nothing, or when sum (the
	// SHA-256 of the bytes to store) is what it promises; else an error
	// wrapping ErrRejected that says so.
	CheckNamed(bucket, key string, sum []byte) error
	// Named reports whether key promises its content's hash.
	Named(bucket, key string) bool
}

// checkNamed checks obj's bytes against what its key promises, if the
// hook cares (NamedHook). A record without a SHA-256 is hashed first
// (a multipart upload's segments), and keeps the hash.
func (s *Service) checkNamed(ctx context.Context, obj *meta.Object) error {
	nh, ok := s.Hook.(NamedHook)
	if !ok || !nh.Named(obj.Bucket, obj.Key) {
		return nil
	}
	if obj.SHA256 == nil {
		r, err := s.open(ctx, *obj)
		if err != nil {
			return err
		}
		defer r.Close()
		h := sha256.New()
		if _, err := io.Copy(h, r); err != nil {
			return fmt.Errorf("hashing %s: %w", obj.Key, err)
		}
		obj.SHA256 = h.Sum(nil)
	}
	return nh.CheckNamed(obj.Bucket, obj.Key, obj.SHA256)
}
