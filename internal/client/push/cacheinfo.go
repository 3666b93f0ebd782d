package push

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nixbucket/nixbucket/internal/client/spool"
	"github.com/nixbucket/nixbucket/internal/client/storeurl"
	"github.com/nixbucket/nixbucket/internal/client/target"
)

// checkCacheInfo makes sure the target is a binary cache for storeDir, as
// Nix does when it opens one: it reads nix-cache-info and, if the cache
// has none, creates it (with the URL's priority and want-mass-query).
func checkCacheInfo(ctx context.Context, t target.Target, u *storeurl.Store, storeDir string) error {
	b, err := t.Get(ctx, "nix-cache-info")
	if err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && strings.TrimSpace(k) == "StoreDir" {
				if dir := strings.TrimSpace(v); dir != storeDir {
					return fmt.Errorf("%s is a binary cache for the store %q, not %s", t, dir, storeDir)
				}
			}
		}
		return nil
	}
	if !errors.Is(err, target.ErrNotFound) {
		return fmt.Errorf("reading nix-cache-info from %s: %w", t, err)
	}
	info := "StoreDir: " + storeDir + "\n"
	if u.WantMassQuery == storeurl.True {
		info += "WantMassQuery: 1\n"
	}
	if u.Priority >= 0 {
		info += "Priority: " + strconv.Itoa(u.Priority) + "\n"
	}
	if err := t.Put(ctx, "nix-cache-info", spool.FromBytes([]byte(info)), target.Meta{ContentType: typeCacheInfo}); err != nil {
		return fmt.Errorf("%s is not a binary cache: it has no nix-cache-info, and creating one failed: %w", t, err)
	}
	return nil
}
