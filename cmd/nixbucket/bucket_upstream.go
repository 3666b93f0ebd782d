package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
	"github.com/nixbucket/nixbucket/internal/upstream"
)

// upstreamSettings names the pull-through settings of `bucket set`.
const upstreamSettings = "upstreams='URL …', upstream-keys='NAME:KEY …', upstream-trust=keys|any, upstream-negative-ttl=DURATION, upstream-max-conns=N, upstream-timeout=DURATION"

// setUpstream applies one pull-through setting to cs; ok is false when k
// is not one. Values are checked here, so a typo fails the command rather
// than every later fetch.
func setUpstream(cs *meta.CacheSettings, k, v string) (ok bool, err error) {
	switch k {
	case "upstreams":
		urls, err := upstream.ParseURLs(v)
		if err != nil {
			return true, fmt.Errorf("upstreams: %w", err)
		}
		cs.Upstreams = strings.Join(urls, " ")
	case "upstream-keys":
		keys := strings.Fields(v)
		for _, s := range keys {
			if _, err := signature.ParsePublicKey(s); err != nil {
				return true, fmt.Errorf("upstream-keys: %q: %w (want NAME:BASE64, as in trusted-public-keys)", s, err)
			}
		}
		cs.UpstreamKeys = strings.Join(keys, " ")
	case "upstream-trust":
		if v != "keys" && v != "any" {
			return true, fmt.Errorf("upstream-trust=%q: want keys or any", v)
		}
		cs.UpstreamTrustAny = v == "any"
	case "upstream-negative-ttl":
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return true, fmt.Errorf("upstream-negative-ttl=%q: want a duration such as 1h or 10m (0: the default, 1h)", v)
		}
		cs.UpstreamNegativeTTL = d
	case "upstream-max-conns":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return true, fmt.Errorf("upstream-max-conns=%q: want a positive integer (0: the default, %d)", v, upstream.DefaultMaxConns)
		}
		cs.UpstreamMaxConns = n
	case "upstream-timeout":
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 0 && d < time.Millisecond {
			return true, fmt.Errorf("upstream-timeout=%q: want a duration such as 3s or 500ms (0: the default, %s)", v, upstream.DefaultNarinfoTimeout)
		}
		cs.UpstreamTimeout = d
	default:
		return false, nil
	}
	return true, nil
}

// upstreamLines describes a bucket's pull-through settings for bucket info.
func upstreamLines(cs meta.CacheSettings) string {
	if cs.Upstreams == "" {
		return "upstreams:       none\n"
	}
	trust := "keys"
	if cs.UpstreamTrustAny {
		trust = "any"
	}
	ttl, conns := cs.UpstreamNegativeTTL, cs.UpstreamMaxConns
	if ttl == 0 {
		ttl = upstream.DefaultNegativeTTL
	}
	if conns == 0 {
		conns = upstream.DefaultMaxConns
	}
	var b strings.Builder
	fmt.Fprintf(&b, "upstreams:       %s\n", cs.Upstreams)
	fmt.Fprintf(&b, "upstream-keys:   %s\n", cs.UpstreamKeys)
	fmt.Fprintf(&b, "upstream-trust:  %s\n", trust)
	fmt.Fprintf(&b, "upstream-negative-ttl: %s\n", ttl)
	fmt.Fprintf(&b, "upstream-max-conns:    %d\n", conns)
	wait := cs.UpstreamTimeout
	if wait == 0 {
		wait = upstream.DefaultNarinfoTimeout
	}
	fmt.Fprintf(&b, "upstream-timeout:      %s (narinfo lookups)\n", wait)
	return b.String()
}
