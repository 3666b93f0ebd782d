package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUseNix: nixbucket use --write sets up a nix.conf that already has
// substituters and trusted-public-keys lines, and a netrc with another
// host's line, for a private nixbucket cache; a second run adds nothing.
// Then Nix 2.8, configured by that directory alone (NIX_CONF_DIR, with
// signatures required), substitutes a closure pushed to the cache.
func TestUseNix(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	s := nixStart(t)
	key := nixServerKey(t, s, nixCacheBucket)
	cache := nixCacheURL(s, nixCacheBucket)
	c := nixBuildClosure(t, 3, 16, "use")
	pushMust(t, pushEnv(t), "--netrc-file", nixNetrc(s), "--to", cache, c.Top)

	conf := t.TempDir()
	nixConf, netrc := filepath.Join(conf, "nix.conf"), filepath.Join(conf, "netrc")
	before := "# the machine's own settings\nsubstituters =\n" +
		"trusted-public-keys = cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=\nsandbox = false\n"
	other := "machine cache.example.org login someone password kept\n"
	if err := os.WriteFile(nixConf, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(netrc, []byte(other), 0o644); err != nil {
		t.Fatal(err)
	}
	use := []string{"use", cache, "--write", "--nix-conf", nixConf, "--netrc-file", netrc, "--netrc-user", s.AccessKey, "--netrc-password", s.SecretKey}
	out := nixMust(t, serverBin, use...)
	if !strings.Contains(out, "added to "+nixConf) {
		t.Errorf("nixbucket use --write says:\n%s", out)
	}
	wantConf := before + "extra-substituters = " + cache + "\nextra-trusted-public-keys = " + key + "\nnetrc-file = " + netrc + "\n"
	wantNetrc := other + "machine 127.0.0.1 login " + s.AccessKey + " password " + s.SecretKey + "\n"
	check := func(when string) {
		t.Helper()
		if b, _ := os.ReadFile(nixConf); string(b) != wantConf {
			t.Errorf("%s: nix.conf is\n%s\nwant\n%s", when, b, wantConf)
		}
		if b, _ := os.ReadFile(netrc); string(b) != wantNetrc {
			t.Errorf("%s: netrc is\n%s\nwant\n%s", when, b, wantNetrc)
		}
		if fi, err := os.Stat(netrc); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: netrc mode %v (%v), want 0600", when, fi.Mode().Perm(), err)
		}
		if fi, err := os.Stat(nixConf); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: nix.conf mode %v (%v), want 0644 kept", when, fi.Mode().Perm(), err)
		}
	}
	check("first run")
	out = nixMust(t, serverBin, use...)
	if !strings.Contains(out, "nothing to add") {
		t.Errorf("second nixbucket use --write says:\n%s", out)
	}
	check("second run")

	c.delete(t)
	env := append(nixEnv(t), "NIX_CONF_DIR="+conf)
	if r := runCmd(t, env, "", "nix-store", "--realise", c.Top); r.Err != nil {
		t.Fatalf("nix-store --realise with the nix.conf nixbucket use wrote: %v\n%s", r.Err, tail(r.Stderr, 8000))
	}
	c.checkDumps(t)
}

// TestUseAnonymous: /-/keys/BUCKET answers anonymous callers as the
// bucket's nix-cache-info does (401 while private), so use without
// credentials says the cache is private; once anonymous reads are
// allowed, it prints the nix.conf lines and no netrc line.
func TestUseAnonymous(t *testing.T) {
	t.Parallel()
	s := nixStart(t)
	key := nixServerKey(t, s, nixCacheBucket)
	cache := nixCacheURL(s, nixCacheBucket)
	anon := nixNoNetrc(t)
	keysURL := s.Endpoint + "/-/keys/" + nixCacheBucket
	if r := nixHTTP(t, anon, "GET", keysURL); r.Status != 401 {
		t.Errorf("anonymous GET %s of a private cache: %d, want 401", keysURL, r.Status)
	}
	if r := nixHTTP(t, nixNetrc(s), "GET", keysURL); r.Status != 200 || r.Body != key+"\n" {
		t.Errorf("GET %s with credentials: %d %q, want 200 %q", keysURL, r.Status, r.Body, key+"\n")
	}
	r := nixRun(t, serverBin, "use", cache)
	if r.Err == nil || !strings.Contains(r.Stderr, "the cache is private") {
		t.Errorf("nixbucket use of a private cache without credentials: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
	r = nixRun(t, serverBin, "use", s.Endpoint+"/no-such-bucket", "--netrc-file", nixNetrc(s))
	if r.Err == nil || !strings.Contains(r.Stderr, "no bucket no-such-bucket here") || !strings.Contains(r.Stderr, cache) {
		t.Errorf("nixbucket use of a missing bucket: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}

	nixAdmin(t, s, "bucket", "policy", "set", nixCacheBucket, "anonymous-read")
	if r := nixHTTP(t, anon, "GET", keysURL); r.Status != 200 || r.Body != key+"\n" {
		t.Errorf("anonymous GET %s of a public cache: %d %q, want 200 %q", keysURL, r.Status, r.Body, key+"\n")
	}
	out := nixMust(t, serverBin, "use", cache)
	if want := "extra-substituters = " + cache + "\nextra-trusted-public-keys = " + key + "\n"; !strings.Contains(out, want) || strings.Contains(out, "machine ") {
		t.Errorf("nixbucket use of a public cache printed\n%s\nwant the lines\n%s(and no netrc line)", out, want)
	}
}

// TestUseKeyAtRoot: with --key, use asks no server for keys, so it takes a
// cache that is no nixbucket bucket: here `nixbucket proxy`, served at the
// root of its address (as cache.nixos.org is). It checks the proxy's
// nix-cache-info, writes nix.conf, and Nix 2.8, configured by that file
// alone, substitutes through the proxy with signatures required. Without
// --key the same URL is refused, saying to give --key.
func TestUseKeyAtRoot(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	s := nixStart(t)
	key := nixServerKey(t, s, nixCacheBucket)
	c := nixBuildClosure(t, 2, 16, "use-root")
	pushMust(t, pushEnv(t), "--netrc-file", nixNetrc(s), "--to", nixCacheURL(s, nixCacheBucket), c.Top)
	px := startProxy(t, pushEnv(t), "--upstream", nixCacheURL(s, nixCacheBucket), "--netrc-file", nixNetrc(s),
		"--trusted-public-keys", key)

	r := nixRun(t, serverBin, "use", px.URL)
	if r.Err == nil || !strings.Contains(r.Stderr, "--key") {
		t.Errorf("nixbucket use %s without --key: %v, want a refusal naming --key\n%s%s", px.URL, r.Err, r.Stdout, r.Stderr)
	}
	conf := t.TempDir()
	nixConf := filepath.Join(conf, "nix.conf")
	before := "substituters =\nsandbox = false\n"
	if err := os.WriteFile(nixConf, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	out := nixMust(t, serverBin, "use", px.URL+"/", "--key", key, "--write", "--nix-conf", nixConf)
	if !strings.Contains(out, "added to "+nixConf) {
		t.Errorf("nixbucket use --key --write says:\n%s", out)
	}
	want := before + "extra-substituters = " + px.URL + "\nextra-trusted-public-keys = " + key + "\n"
	if b, _ := os.ReadFile(nixConf); string(b) != want {
		t.Errorf("nix.conf is\n%s\nwant\n%s", b, want)
	}
	c.delete(t)
	env := append(nixEnv(t), "NIX_CONF_DIR="+conf)
	if r := runCmd(t, env, "", "nix-store", "--realise", c.Top); r.Err != nil {
		t.Fatalf("nix-store --realise through the proxy with the nix.conf nixbucket use wrote: %v\n%s", r.Err, tail(r.Stderr, 8000))
	}
	c.checkDumps(t)
}

// TestUseMistakes: the mistakes of a first `nixbucket use` (https to a
// plain-HTTP server, a URL without its scheme, a netrc whose line names
// the host with its port) are each one line saying what to change.
func TestUseMistakes(t *testing.T) {
	t.Parallel()
	s := nixStart(t)
	withPort := filepath.Join(t.TempDir(), "netrc")
	if err := os.WriteFile(withPort, []byte("machine "+s.Addr+" login "+s.AccessKey+" password "+s.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"https://" + s.Addr + "/nix-cache"},
			"nixbucket: use: https://" + s.Addr + " speaks plain HTTP, not HTTPS: use an http:// URL (in an s3:// URL, scheme=http)\n"},
		{[]string{s.Addr + "/nix-cache"},
			`nixbucket: use: cache URL "` + s.Addr + `/nix-cache" has no scheme: want http://HOST[:PORT]/BUCKET (or https://…, or s3://BUCKET?endpoint=HOST[:PORT])` + "\n"},
		{[]string{"http://" + s.Addr + "/nix-cache", "--netrc-file", withPort},
			"nixbucket: use: http://" + s.Addr + "/nix-cache/nix-cache-info: the cache is private, and " + withPort + " has no line for 127.0.0.1 (it has lines for " + s.Addr +
				" only: a machine is a host name alone, without scheme, port or path): add \"machine 127.0.0.1 login NAME password SECRET\" there, or give --netrc-user and --netrc-password\n"},
	} {
		r := nixRun(t, serverBin, append([]string{"use"}, c.args...)...)
		if r.Err == nil || r.Stderr != c.want {
			t.Errorf("nixbucket use %s: %v, stderr %q; want an error, %q", strings.Join(c.args, " "), r.Err, r.Stderr, c.want)
		}
	}
}
