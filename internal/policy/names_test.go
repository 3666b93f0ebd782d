package policy_test

import (
	"slices"
	"testing"

	"github.com/nixbucket/nixbucket/internal/policy"
)

func TestNames(t *testing.T) {
	p, err := policy.ParseBucket([]byte(`{"Statement":[
		{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::000000000000:user/cache-raeder","123456789012"]},"Action":"s3:GetObject",
		 "Resource":["arn:aws:s3:::example-nix-cach/*","arn:aws:s3:::example-nix-cach","arn:aws:s3:::other/x"]},
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":["arn:aws:s3:::nix-*/*","arn:aws:s3:::${aws:username}/*"]},
		{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::000000000000:user/admin"},"Action":"s3:*","NotResource":"arn:aws:s3:::skipped/*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	n := p.Names()
	if want := []string{"arn:aws:iam::000000000000:user/cache-raeder", "123456789012", "arn:aws:iam::000000000000:user/admin"}; !slices.Equal(n.Principals, want) {
		t.Errorf("Principals = %q, want %q", n.Principals, want)
	}
	if want := []string{"example-nix-cach", "other"}; !slices.Equal(n.Buckets, want) {
		t.Errorf("Buckets = %q, want %q", n.Buckets, want)
	}
}
