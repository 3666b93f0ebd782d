package main

import (
	"context"
	"errors"

	"github.com/nixbucket/nixbucket/internal/client/storeurl"
	"github.com/nixbucket/nixbucket/internal/client/target"
)

// unsignedWarning returns the warning push gives, once and before it
// uploads, when the narinfos it writes will be stored unsigned (Nix then
// refuses to substitute them unless told not to require signatures): push
// holds no secret-key= and the cache does not sign them itself. A
// nixbucket server says which keys sign a bucket (GET /-/keys/BUCKET); a
// directory never signs; any other cache might, so the warning says so.
// It returns "" when there is nothing to warn about, or no way to tell.
func unsignedWarning(ctx context.Context, u *storeurl.Store, o target.Options, haveKeys bool) string {
	const fix = "add secret-key=FILE to the store URL (nix-store --generate-binary-cache-key NAME FILE FILE.pub makes one)"
	switch {
	case haveKeys:
		return ""
	case u.Scheme == storeurl.SchemeFile:
		return "narinfos will be stored unsigned (push has no secret key): " + fix
	}
	keys, err := target.ServerKeys(ctx, u, o)
	if len(keys) > 0 || errors.Is(err, target.ErrKeysRefused) {
		// It signs; or it is a nixbucket that tells only its readers,
		// and every nixbucket bucket gets a key when it is created.
		return ""
	}
	return "narinfos will be stored unsigned unless the cache signs them (push has no secret key, and " + u.String() + " does not say it signs): " + fix
}
