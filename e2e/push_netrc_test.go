package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPushNixNetrc pushes to a private cache over http:// without
// --netrc-file, $NETRC or ~/.netrc, with the credentials where Nix reads
// them: the file nix.conf's netrc-file names (where `nixbucket use
// --write --netrc-file` points it), or Nix's default $NIX_CONF_DIR/netrc
// (/etc/nix/netrc). `nix copy` finds them there, and push must too (it
// sent no credentials, and the cache refused it with 401).
func TestPushNixNetrc(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	s := nixStart(t)
	cache := nixCacheURL(s, nixCacheBucket)
	netrc, err := os.ReadFile(nixNetrc(s))
	if err != nil {
		t.Fatal(err)
	}
	named, byDefault := t.TempDir(), t.TempDir()
	for name, body := range map[string]string{
		filepath.Join(named, "nix.conf"):     "sandbox = false\nnetrc-file = " + nixNetrc(s) + "\n",
		filepath.Join(byDefault, "nix.conf"): "sandbox = false\n",
		filepath.Join(byDefault, "netrc"):    string(netrc),
	} {
		if err := os.WriteFile(name, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ name, confDir string }{
		{"netrc-file in nix.conf", named},
		{"NIX_CONF_DIR/netrc", byDefault},
	} {
		env := pushEnv(t, "HOME="+t.TempDir(), "NIX_CONF_DIR="+tc.confDir)
		// What Nix does with the same configuration.
		base := nixBuildClosure(t, 1, 1, "push-nixnetrc-nix")
		if r := runCmd(t, env, "", "nix", "--extra-experimental-features", "nix-command", "copy", "--option", "substituters", "", "--to", cache, base.Top); r.Err != nil {
			t.Fatalf("%s: nix copy: %v\n%s", tc.name, r.Err, tail(r.Stderr, 4000))
		}
		c := nixBuildClosure(t, 2, 4, "push-nixnetrc")
		paths, sum := pushMust(t, env, "--to", cache, c.Top)
		pushWantAll(t, tc.name, c, paths, sum, "pushed")
		c.delete(t)
		nixMustSubstitute(t, cache, nixServerKey(t, s, nixCacheBucket), nixNetrc(s), c.Top)
		c.checkDumps(t)
	}
}
