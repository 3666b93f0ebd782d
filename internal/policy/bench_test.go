package policy_test

import (
	"testing"

	"github.com/nixbucket/nixbucket/internal/policy"
)

const (
	benchNAR     = "nar/1w1fff338fvdw53sqgamddi1b2xgawbnhv0ahcz98n7kn8nd7b4a.nar.xz"
	benchNarinfo = "0aaf7mhrfqigdmdfd2m9wkpz6qfgkhbf.narinfo"
)

type benchCase struct {
	name string
	req  *policy.Request
	want policy.Decision
}

func parseSeed(b *testing.B, parse func([]byte) (*policy.Policy, error), name string) *policy.Policy {
	b.Helper()
	p, err := parse(seed(b, name))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

var sink policy.Decision

func benchDecide(b *testing.B, identity, bucketPolicy *policy.Policy, cases []benchCase) {
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if got := policy.Decide(identity, bucketPolicy, c.req); got != c.want {
				b.Fatalf("Decide = %v, want %v", got, c.want)
			}
			b.ReportAllocs()
			var d policy.Decision
			for b.Loop() {
				d = policy.Decide(identity, bucketPolicy, c.req)
			}
			sink = d
		})
	}
}

// BenchmarkDecideAnonymousRead is Nix substituting anonymously over HTTP.
func BenchmarkDecideAnonymousRead(b *testing.B) {
	bp := parseSeed(b, policy.ParseBucket, "seed-anonymous-read.bucket.json")
	benchDecide(b, nil, bp, []benchCase{
		{"allow", get(anonymous, benchNarinfo, secure(true), ip("192.0.2.1")), policy.Allow},
		{"deny", rq(anonymous, "s3:PutObject", policy.ObjectARN(bucket, benchNAR)), policy.Deny},
	})
}

// BenchmarkDecideAuthenticatedRead is a principal-restricted read.
func BenchmarkDecideAuthenticatedRead(b *testing.B) {
	bp := parseSeed(b, policy.ParseBucket, "seed-authenticated-read.bucket.json")
	benchDecide(b, nil, bp, []benchCase{
		{"allow", get(reader, benchNAR), policy.Allow},
		{"deny", get(carol, benchNAR), policy.Deny},
	})
}

// BenchmarkDecideUpload is `nix copy` pushing with the upload IAM policy,
// with the anonymous-read bucket policy also attached.
func BenchmarkDecideUpload(b *testing.B) {
	ip := parseSeed(b, policy.ParseIdentity, "seed-upload.iam.json")
	bp := parseSeed(b, policy.ParseBucket, "seed-anonymous-read.bucket.json")
	benchDecide(b, ip, bp, []benchCase{
		{"allow", rq(uploader, "s3:PutObject", policy.ObjectARN(bucket, benchNAR)), policy.Allow},
		{"deny", rq(uploader, "s3:DeleteObject", policy.ObjectARN(bucket, benchNAR)), policy.Deny},
	})
}

// BenchmarkDecideConditions evaluates a bucket policy with IP, TLS, prefix
// and variable conditions, the heavier end of real policies.
func BenchmarkDecideConditions(b *testing.B) {
	bp, err := policy.ParseBucket([]byte(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::example-nix-cache/*",
		 "Condition":{"IpAddress":{"aws:SourceIp":["54.240.143.0/24","2001:db8::/32"]}}},
		{"Effect":"Allow","Principal":{"AWS":"000000000000"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::example-nix-cache",
		 "Condition":{"StringLike":{"s3:prefix":["","home/${aws:username}/*"]}}},
		{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::example-nix-cache","arn:aws:s3:::example-nix-cache/*"],
		 "Condition":{"Bool":{"aws:SecureTransport":"false"}}},
		{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::example-nix-cache/*",
		 "Condition":{"DateGreaterThan":{"aws:CurrentTime":"2099-01-01T00:00:00Z"}}}]}`))
	if err != nil {
		b.Fatal(err)
	}
	benchDecide(b, nil, bp, []benchCase{
		{"allow", get(anonymous, benchNAR, secure(true), ip("2001:db8::7"), at("2026-05-01T00:00:00Z")), policy.Allow},
		{"allow-list", list(alice, secure(true), prefix("home/alice/"), at("2026-05-01T00:00:00Z")), policy.Allow},
		{"deny", get(anonymous, benchNAR, secure(false), ip("2001:db8::7"), at("2026-05-01T00:00:00Z")), policy.ExplicitDeny},
	})
}

// BenchmarkDecideBuildARN includes building the object ARN, the one
// allocation a caller makes per request.
func BenchmarkDecideBuildARN(b *testing.B) {
	bp := parseSeed(b, policy.ParseBucket, "seed-anonymous-read.bucket.json")
	b.ReportAllocs()
	var d policy.Decision
	for b.Loop() {
		r := policy.Request{Action: "s3:GetObject", Resource: policy.ObjectARN(bucket, benchNAR)}
		d = policy.Decide(nil, bp, &r)
	}
	sink = d
}

func BenchmarkParseSeed(b *testing.B) {
	doc := seed(b, "seed-upload.iam.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := policy.ParseIdentity(doc); err != nil {
			b.Fatal(err)
		}
	}
}
