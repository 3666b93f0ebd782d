package policy_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/nixbucket/nixbucket/internal/policy"
)

// fuzzRequests exercise every condition key, present and absent.
var fuzzRequests = []*policy.Request{
	get(anonymous, "k"),
	list(alice),
	rq(policy.Principal{ARN: "x"}, "", ""),
	rq(foreigner, "S3:PUTOBJECT", "arn:aws:s3:::\xff/é*?${*}", secure(true), ip("2001:db8::1"), agent("Nix/2.18"),
		prefix("p/é"), delimiter("/"), maxKeys("1e400"), at("2026-01-02T03:04:05Z")),
	rq(reader, "s3:ListBucket", "arn:aws:s3:::example-nix-cache", ip("::ffff:10.0.0.1"), maxKeys("-0"), prefix(""),
		func(r *policy.Request) { r.Principal.UserID = "AIDA"; r.Context.Referer = "https://x/" }),
}

// FuzzParse checks that whatever the parsers accept evaluates without
// panicking, deterministically, and that rejections are *policy.Error.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, d := range []string{homeDirs, homeDirsDefault, literalStar, prefixDelimiter, maxKeysLimit, sourceIP,
		denyOutsideNet, denyInsecure, timeWindow, epochNumeric, denyNoIP, usersOnly, nixAgentsIfExists,
		forAllAgents, forAnyAgents, denyUnnamedUsers, agentIgnoreCase, arnLikeCache, arnAnyAccount,
		notPrincipalDeny, notResourceDeny, readOnlyGuard, actionGlobs} {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, parse := range []func([]byte) (*policy.Policy, error){policy.ParseBucket, policy.ParseIdentity} {
			p, err := parse(data)
			if err != nil {
				var pe *policy.Error
				if !errors.As(err, &pe) || err.Error() == "" {
					t.Fatalf("error %T %q", err, err)
				}
				continue
			}
			_ = p.CheckBucket("example-nix-cache")
			for _, r := range fuzzRequests {
				d := p.Evaluate(r)
				if d > policy.ExplicitDeny || d != p.Evaluate(r) {
					t.Fatalf("Evaluate = %v, then %v", d, p.Evaluate(r))
				}
				if got := policy.Decide(p, p, r); got != d {
					t.Fatalf("Decide(p, p) = %v, Evaluate = %v", got, d)
				}
			}
		}
	})
}
