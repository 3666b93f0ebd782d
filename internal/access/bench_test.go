package access_test

import (
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/policy"
)

// The benchmarks measure steady state: caches warm, one request reused.
// Each Authorize benchmark has a "decide" peer, the bare policy decision
// on the same policies, so the figure to read is the ratio: what Authorize
// adds around the evaluator (generation check, cache lookups, building the
// request context and the principal).

var errSink error

// benchAuthorize runs Authorize for r in a loop after checking its answer.
func benchAuthorize(b *testing.B, e *env, r *http.Request, id access.Identity, action, resource string, want bool) {
	b.Helper()
	if got := e.allowed(r, id, action, resource); got != want {
		b.Fatalf("Authorize allowed = %v, want %v", got, want)
	}
	b.ReportAllocs()
	var err error
	for b.Loop() {
		err = e.svc.Authorize(e.ctx, r, id, action, resource)
	}
	errSink = err
}

var decisionSink policy.Decision

// benchDecide runs the bare decision Authorize makes for the same question.
func benchDecide(b *testing.B, identity, narrow, bucketPolicy *policy.Policy, req *policy.Request, want policy.Decision) {
	b.Helper()
	if got := policy.DecideNarrowed(identity, narrow, bucketPolicy, req); got != want {
		b.Fatalf("DecideNarrowed = %v, want %v", got, want)
	}
	b.ReportAllocs()
	var d policy.Decision
	for b.Loop() {
		d = policy.DecideNarrowed(identity, narrow, bucketPolicy, req)
	}
	decisionSink = d
}

func mustParse(b *testing.B, parse func([]byte) (*policy.Policy, error), doc []byte) *policy.Policy {
	b.Helper()
	p, err := parse(doc)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// nixGet is a GET as Nix sends it when substituting over plain HTTP.
func nixGet(key string) *http.Request {
	return request("GET", "/"+cacheBucket+"/"+key, from("192.0.2.1:40000"), header("User-Agent", "curl/8.5.0 Nix/2.24.10"))
}

// BenchmarkAuthorizeAnonymousRead is Nix substituting anonymously under
// the seed's anonymous-read bucket policy.
func BenchmarkAuthorizeAnonymousRead(b *testing.B) {
	e := newEnvOpts(b, access.Options{Now: time.Now})
	doc := seed(b, "seed-anonymous-read.bucket.json")
	e.bucketPolicy(cacheBucket, doc)
	bp := mustParse(b, policy.ParseBucket, doc)
	get := nixGet(narinfoKey)
	b.Run("allow", func(b *testing.B) {
		benchAuthorize(b, e, get, anonymous, "s3:GetObject", objectARN(narinfoKey), true)
	})
	b.Run("deny", func(b *testing.B) {
		put := request("PUT", "/"+cacheBucket+"/"+narKey, from("192.0.2.1:40000"))
		benchAuthorize(b, e, put, anonymous, "s3:PutObject", objectARN(narKey), false)
	})
	b.Run("decide", func(b *testing.B) {
		req := &policy.Request{Action: "s3:GetObject", Resource: objectARN(narinfoKey), Context: policy.Context{
			CurrentTime: e.clock.Now(), SourceIP: netip.MustParseAddr("192.0.2.1"), UserAgent: "curl/8.5.0 Nix/2.24.10"}}
		benchDecide(b, nil, nil, bp, req, policy.Allow)
	})
}

// BenchmarkAuthorizeUserUpload is `nix copy` pushing with the seed's
// upload IAM policy, the anonymous-read bucket policy also attached.
func BenchmarkAuthorizeUserUpload(b *testing.B) {
	e := newEnvOpts(b, access.Options{Now: time.Now})
	bdoc := seed(b, "seed-anonymous-read.bucket.json")
	idoc := seed(b, "seed-upload.iam.json")
	e.bucketPolicy(cacheBucket, bdoc)
	key := e.user("cache-upload", "seed-upload.iam.json")
	id := e.keyID(key)
	put := request("PUT", "/"+cacheBucket+"/"+narKey, from("192.0.2.1:40000"), header("User-Agent", "aws-sdk-cpp/1.11"))
	b.Run("allow", func(b *testing.B) {
		benchAuthorize(b, e, put, id, "s3:PutObject", objectARN(narKey), true)
	})
	b.Run("deny", func(b *testing.B) {
		benchAuthorize(b, e, put, id, "s3:DeleteObject", objectARN(narKey), false)
	})
	b.Run("token", func(b *testing.B) {
		tok, err := e.svc.TokenIdentity(e.ctx, e.token("cache-upload", 0, string(idoc)), "")
		if err != nil {
			b.Fatal(err)
		}
		benchAuthorize(b, e, put, tok, "s3:PutObject", objectARN(narKey), true)
	})
	b.Run("list-prefix", func(b *testing.B) {
		list := request("GET", "/"+cacheBucket+"?list-type=2&prefix=nar/&max-keys=1000", from("192.0.2.1:40000"))
		benchAuthorize(b, e, list, id, "s3:ListBucket", bucketARN, true)
	})
	b.Run("decide", func(b *testing.B) {
		req := &policy.Request{Action: "s3:PutObject", Resource: objectARN(narKey),
			Principal: policy.User(access.DefaultAccount, "cache-upload"),
			Context:   policy.Context{CurrentTime: e.clock.Now(), SourceIP: netip.MustParseAddr("192.0.2.1"), UserAgent: "aws-sdk-cpp/1.11"}}
		benchDecide(b, mustParse(b, policy.ParseIdentity, idoc), nil, mustParse(b, policy.ParseBucket, bdoc), req, policy.Allow)
	})
}

// BenchmarkKeyIdentity is the lookup behind every signed request: the
// secret for the signature check, then the identity.
func BenchmarkKeyIdentity(b *testing.B) {
	e := newEnvOpts(b, access.Options{Now: time.Now})
	k := e.user("cache-upload", "seed-upload.iam.json")
	e.keyID(k)
	b.ReportAllocs()
	var id access.Identity
	var err error
	for b.Loop() {
		id, err = e.svc.KeyIdentity(e.ctx, k.ID)
	}
	if err != nil || id.User != "cache-upload" {
		b.Fatalf("KeyIdentity = %+v, %v", id, err)
	}
}

// BenchmarkTokenIdentity checks a token as Bearer and Basic credentials
// carry it, SHA-256 of the secret included.
func BenchmarkTokenIdentity(b *testing.B) {
	e := newEnvOpts(b, access.Options{Now: time.Now})
	e.user("cache-upload", "seed-upload.iam.json")
	text := e.token("cache-upload", 30*24*time.Hour, "")
	b.Run("token", func(b *testing.B) {
		b.ReportAllocs()
		var err error
		for b.Loop() {
			_, err = e.svc.TokenIdentity(e.ctx, text, "cache-upload")
		}
		if err != nil {
			b.Fatal(err)
		}
	})
	for name, auth := range map[string]string{"bearer": "Bearer " + text, "basic": basic("cache-upload", text)} {
		b.Run(name, func(b *testing.B) {
			r := request("GET", "/"+cacheBucket+"/"+narinfoKey)
			r.Header.Set("Authorization", auth)
			b.ReportAllocs()
			var err error
			for b.Loop() {
				_, _, err = e.svc.HTTPIdentity(e.ctx, r)
			}
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}
