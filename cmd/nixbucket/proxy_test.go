package main

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseProxyFlags(t *testing.T) {
	const key = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="
	for _, tc := range []struct {
		args []string
		err  string // "" for none
	}{
		{[]string{"--upstream", "s3://c?region=eu-west-2&profile=p", "--trusted-public-keys", key}, ""},
		{[]string{"--upstream", "https://a https://b", "--upstream", "http://c", "--trust", "any", "--cache-dir", "/x", "--max-size", "1GiB"}, ""},
		{[]string{"--trusted-public-keys", key}, "--upstream URL is required"},
		{[]string{"--upstream", "https://a", "--trusted-public-keys", key, "--cache-dir", "/x"}, "go together"},
		{[]string{"--upstream", "https://a", "--trusted-public-keys", key, "--max-size", "1G"}, "go together"},
		{[]string{"--upstream", "https://a"}, "--trusted-public-keys"},
		{[]string{"--upstream", "https://a", "--trust", "all"}, "the only value is any"},
		{[]string{"--upstream", "https://a", "--trust", "any", "extra"}, "usage"},
	} {
		f, err := parseProxyFlags(tc.args)
		var ue *usageError
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.err != "" && (err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want a usage error with %q", tc.args, err, tc.err)
		}
		if tc.err == "" && err == nil && slices.Contains(tc.args, "http://c") {
			if want := []string{"https://a", "https://b", "http://c"}; !slices.Equal(f.upstreams, want) {
				t.Errorf("upstreams %q, want %q (repeated and space-separated, in order)", f.upstreams, want)
			}
		}
	}
}
