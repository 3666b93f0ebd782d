package main

import "testing"

// TestParseCacheURL: use reads the cache's URL the way Nix does, keeps
// credentials out of nix.conf, and finds where to fetch keys from.
func TestParseCacheURL(t *testing.T) {
	for _, tc := range []struct {
		raw, subst, base, bucket, host, login, password string
		http                                            bool
	}{
		{"http://127.0.0.1:9000/nix-cache", "http://127.0.0.1:9000/nix-cache", "http://127.0.0.1:9000", "nix-cache", "127.0.0.1", "", "", true},
		{"https://cache.example.org/c/", "https://cache.example.org/c", "https://cache.example.org", "c", "cache.example.org", "", "", true},
		{"http://NBKEY:s3cr%2Ft@[::1]:9000/c?priority=30", "http://[::1]:9000/c?priority=30", "http://[::1]:9000", "c", "::1", "NBKEY", "s3cr/t", true},
		{"s3://c?endpoint=127.0.0.1:9000&scheme=http&region=eu-west-2", "s3://c?endpoint=127.0.0.1:9000&scheme=http&region=eu-west-2", "http://127.0.0.1:9000", "c", "127.0.0.1", "", "", false},
		{"s3://c?endpoint=cache.example.org", "s3://c?endpoint=cache.example.org", "https://cache.example.org", "c", "cache.example.org", "", "", false},
	} {
		c, err := parseCacheURL(tc.raw, false)
		if err != nil {
			t.Errorf("%s: %v", tc.raw, err)
			continue
		}
		if c.substituter != tc.subst || c.base != tc.base || c.bucket != tc.bucket || c.host != tc.host || c.login != tc.login || c.password != tc.password || c.isHTTP != tc.http {
			t.Errorf("%s: got %+v", tc.raw, *c)
		}
	}
	for _, raw := range []string{"http://127.0.0.1:9000", "http://127.0.0.1:9000/a/b", "s3://c", "file:///tmp/c", "127.0.0.1:9000/c"} {
		if c, err := parseCacheURL(raw, false); err == nil {
			t.Errorf("%s: accepted as %+v", raw, *c)
		}
	}
	// With --key, use asks no server for keys, so any cache will do: one
	// at the root of its host (cache.nixos.org, nixbucket proxy), under a
	// deeper path, or an S3 bucket on AWS, which use does not read.
	for _, tc := range []struct {
		raw, subst, base, path, bucket string
	}{
		{"https://cache.nixos.org", "https://cache.nixos.org", "https://cache.nixos.org", "", ""},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080", "http://127.0.0.1:8080", "", ""},
		{"https://example.org/a/b/?priority=50", "https://example.org/a/b?priority=50", "https://example.org", "/a/b", ""},
		{"http://127.0.0.1:9000/nix-cache", "http://127.0.0.1:9000/nix-cache", "http://127.0.0.1:9000", "/nix-cache", "nix-cache"},
		{"s3://c?region=eu-west-2", "s3://c?region=eu-west-2", "", "", "c"},
		{"s3://c?endpoint=127.0.0.1:9000&scheme=http", "s3://c?endpoint=127.0.0.1:9000&scheme=http", "http://127.0.0.1:9000", "/c", "c"},
	} {
		c, err := parseCacheURL(tc.raw, true)
		if err != nil {
			t.Errorf("%s with --key: %v", tc.raw, err)
			continue
		}
		if c.substituter != tc.subst || c.base != tc.base || c.path != tc.path || c.bucket != tc.bucket {
			t.Errorf("%s with --key: got %+v", tc.raw, *c)
		}
	}
	for _, raw := range []string{"http:///c", "s3://?region=eu-west-2", "file:///tmp/c"} {
		if c, err := parseCacheURL(raw, true); err == nil {
			t.Errorf("%s with --key: accepted as %+v", raw, *c)
		}
	}
}

// TestParseEndpoint: info --endpoint takes a base URL and makes a
// wildcard host usable.
func TestParseEndpoint(t *testing.T) {
	for raw, want := range map[string]string{
		"http://cache.example.org:9000": "http://cache.example.org:9000",
		"https://cache.example.org/":    "https://cache.example.org",
		"http://0.0.0.0:9000":           "http://127.0.0.1:9000",
		"http://[::]:9000":              "http://127.0.0.1:9000",
		"http://[::1]:9000":             "http://[::1]:9000",
	} {
		if got, _, err := parseEndpoint(raw); err != nil || got != want {
			t.Errorf("parseEndpoint(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{"cache.example.org", "ftp://x", "http://x:9000/nix-cache"} {
		if got, _, err := parseEndpoint(raw); err == nil {
			t.Errorf("parseEndpoint(%q) = %q, want an error", raw, got)
		}
	}
}
