package policy_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/policy"
)

const (
	account = "000000000000"
	bucket  = "example-nix-cache"
)

var (
	anonymous = policy.Principal{}
	reader    = policy.User(account, "cache-reader")
	uploader  = policy.User(account, "cache-upload")
	alice     = policy.User(account, "alice")
	bob       = policy.User(account, "bob")
	carol     = policy.User(account, "carol")
	foreigner = policy.User("111122223333", "cache-reader") // same name, other account
)

type reqOpt func(*policy.Request)

func rq(p policy.Principal, action, resource string, opts ...reqOpt) *policy.Request {
	r := &policy.Request{Action: action, Resource: resource, Principal: p}
	for _, o := range opts {
		o(r)
	}
	return r
}

// get is a GetObject of key in the test bucket.
func get(p policy.Principal, key string, opts ...reqOpt) *policy.Request {
	return rq(p, "s3:GetObject", policy.ObjectARN(bucket, key), opts...)
}

// list is a ListObjects of the test bucket.
func list(p policy.Principal, opts ...reqOpt) *policy.Request {
	return rq(p, "s3:ListBucket", policy.BucketARN(bucket), opts...)
}

func ip(s string) reqOpt {
	return func(r *policy.Request) { r.Context.SourceIP = netip.MustParseAddr(s) }
}
func secure(b bool) reqOpt  { return func(r *policy.Request) { r.Context.SecureTransport = b } }
func agent(s string) reqOpt { return func(r *policy.Request) { r.Context.UserAgent = s } }
func at(s string) reqOpt {
	return func(r *policy.Request) {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		r.Context.CurrentTime = t
	}
}
func prefix(s string) reqOpt {
	return func(r *policy.Request) { r.Context.Prefix, r.Context.HasPrefix = s, true }
}
func delimiter(s string) reqOpt {
	return func(r *policy.Request) { r.Context.Delimiter, r.Context.HasDelimiter = s, true }
}
func maxKeys(s string) reqOpt {
	return func(r *policy.Request) { r.Context.MaxKeys, r.Context.HasMaxKeys = s, true }
}

// seed returns a seed policy from testdata.
func seed(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	seedAnon   = "seed:seed-anonymous-read.bucket.json"
	seedAuth   = "seed:seed-authenticated-read.bucket.json"
	seedUpload = "seed:seed-upload.iam.json"
)

// doc resolves a table entry to a policy document ("" means none).
func doc(t *testing.T, s string) []byte {
	if name, ok := strings.CutPrefix(s, "seed:"); ok {
		return seed(t, name)
	}
	return []byte(s)
}

// Documents used by several cases. Most are adapted from the examples of
// the IAM User Guide and the Amazon S3 User Guide, with the bucket renamed.
const (
	// Identity policy granting the whole bucket.
	allowAllIdentity = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*",
		"Resource":["arn:aws:s3:::example-nix-cache","arn:aws:s3:::example-nix-cache/*"]}}`

	// S3 User Guide: deny object deletion to everyone.
	denyDeleteBucket = `{"Version":"2012-10-17","Statement":[{"Sid":"NoDeletes","Effect":"Deny","Principal":"*",
		"Action":"s3:DeleteObject","Resource":"arn:aws:s3:::example-nix-cache/*"}]}`

	// Public reads, but the identity policy denies a prefix.
	publicRead = `{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject",
		"Resource":"arn:aws:s3:::example-nix-cache/*"}}`
	denySecretIdentity = `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Action":"s3:GetObject",
		"Resource":"arn:aws:s3:::example-nix-cache/secret/*"}}`

	// IAM User Guide, NotAction: allow everything in the bucket except deleting.
	notActionAllow = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotAction":"s3:Delete*",
		"Resource":"arn:aws:s3:::example-nix-cache/*"}}`

	// Deny everything but reads, whatever else allows.
	readOnlyGuard = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"s3:*","Resource":"*"},
		{"Sid":"ReadOnly","Effect":"Deny","NotAction":["s3:GetObject","s3:ListBucket"],"Resource":"*"}]}`

	// IAM User Guide, NotResource: deny anything outside one bucket.
	notResourceDeny = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"s3:*","Resource":"*"},
		{"Effect":"Deny","Action":"s3:*","NotResource":["arn:aws:s3:::example-nix-cache","arn:aws:s3:::example-nix-cache/*"]}]}`
	notResourceAllow = `{"Statement":{"Effect":"Allow","Action":"s3:GetObject",
		"NotResource":"arn:aws:s3:::example-nix-cache/private/*"}}`

	// IAM User Guide, NotPrincipal with Deny: everyone but cache-reader,
	// listed with its account as the guide requires.
	notPrincipalDeny = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::example-nix-cache/*"},
		{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::000000000000:user/cache-reader","arn:aws:iam::000000000000:root"]},
		 "Action":"s3:*","Resource":["arn:aws:s3:::example-nix-cache","arn:aws:s3:::example-nix-cache/*"]}]}`
	// The same without the account: the account is checked first, so the
	// user is denied too.
	notPrincipalUserOnly = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::example-nix-cache/*"},
		{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::000000000000:user/cache-reader"},
		 "Action":"s3:*","Resource":"arn:aws:s3:::example-nix-cache/*"}]}`
	notPrincipalAccountDeny = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::example-nix-cache/*"},
		{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::000000000000:root"},
		 "Action":"s3:*","Resource":"arn:aws:s3:::example-nix-cache/*"}]}`

	// IAM User Guide, policy variables: each user lists and uses only home/NAME/.
	homeDirs = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example-nix-cache",
		 "Condition":{"StringLike":{"s3:prefix":["","home/","home/${aws:username}/*"]}}},
		{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],
		 "Resource":"arn:aws:s3:::example-nix-cache/home/${aws:username}/*"}]}`
	homeDirsOldVersion = `{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject",
		"Resource":"arn:aws:s3:::example-nix-cache/home/${aws:username}/*"}}`
	homeDirsDefault = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject",
		"Resource":"arn:aws:s3:::example-nix-cache/home/${aws:username, 'anonymous'}/*"}}`
	literalStar = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject",
		"Resource":"arn:aws:s3:::example-nix-cache/${*}"}}`

	// S3 User Guide: ListBucket only for a prefix and delimiter.
	prefixDelimiter = `{"Statement":{"Effect":"Allow","Principal":{"AWS":"000000000000"},"Action":"s3:ListBucket",
		"Resource":"arn:aws:s3:::example-nix-cache",
		"Condition":{"StringEquals":{"s3:prefix":"projects","s3:delimiter":"/"}}}}`
	maxKeysLimit = `{"Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example-nix-cache",
		"Condition":{"NumericLessThanEquals":{"s3:max-keys":"10"}}}}`
	denyOtherPrefixes = `{"Statement":[
		{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example-nix-cache"},
		{"Effect":"Deny","Action":"s3:ListBucket","Resource":"arn:aws:s3:::example-nix-cache",
		 "Condition":{"StringNotEquals":{"s3:prefix":"public/"}}}]}`

	// S3 User Guide: restrict access to IP ranges, v4 and v6.
	sourceIP = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
		"Resource":"arn:aws:s3:::example-nix-cache/*",
		"Condition":{"IpAddress":{"aws:SourceIp":["54.240.143.0/24","2001:DB8:1234:5678::/64","192.0.2.7"]}}}}`
	denyOutsideNet = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::example-nix-cache/*"},
		{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::example-nix-cache/*",
		 "Condition":{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","fd00::/8"]}}}]}`

	// S3 User Guide: deny requests that are not over HTTPS.
	denyInsecure = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::example-nix-cache/*"},
		{"Sid":"AllowSSLRequestsOnly","Effect":"Deny","Principal":"*","Action":"s3:*",
		 "Resource":["arn:aws:s3:::example-nix-cache","arn:aws:s3:::example-nix-cache/*"],
		 "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`
	denyInsecureJSONBool = `{"Statement":{"Effect":"Deny","Action":"s3:*","Resource":"*",
		"Condition":{"Bool":{"aws:SecureTransport":false}}}}`

	// IAM User Guide: allow access only during a time window.
	timeWindow = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject",
		"Resource":"arn:aws:s3:::example-nix-cache/*",
		"Condition":{"DateGreaterThan":{"aws:CurrentTime":"2026-04-01T00:00:00Z"},
		             "DateLessThan":{"aws:CurrentTime":"2026-06-30T23:59:59Z"}}}}`
	expiresEpoch = `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*",
		"Condition":{"DateLessThan":{"aws:CurrentTime":1780000000}}}}`
	epochNumeric = `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*",
		"Condition":{"NumericLessThan":{"aws:EpochTime":1780000000},"DateGreaterThanEquals":{"aws:EpochTime":"2026-01-01"}}}}`

	// Null: deny when the requester has no IP (key absent); allow only IAM users.
	denyNoIP = `{"Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::example-nix-cache/*"},
		{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"Null":{"aws:SourceIp":"true"}}}]}`
	usersOnly = `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::example-nix-cache/*",
		"Condition":{"Null":{"aws:username":"false"}}}}`

	// IfExists: a present key must match, an absent one passes.
	nixAgentsIfExists = `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*",
		"Condition":{"StringLikeIfExists":{"aws:UserAgent":"Nix/*"}}}}`
	capMaxKeysIfExists = `{"Statement":[
		{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"},
		{"Effect":"Deny","Action":"s3:ListBucket","Resource":"*","Condition":{"NumericGreaterThanIfExists":{"s3:max-keys":1000}}}]}`

	// Set operators on a single-valued key.
	forAllAgents = `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*",
		"Condition":{"ForAllValues:StringEquals":{"aws:UserAgent":["curl/8.0","Nix/2.18"]}}}}`
	forAnyAgents = `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*",
		"Condition":{"ForAnyValue:StringEquals":{"aws:UserAgent":["curl/8.0","Nix/2.18"]}}}}`

	// Several values are ORed; under a negated operator, NORed.
	namedUsers = `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*",
		"Condition":{"StringEquals":{"aws:username":["alice","bob"]}}}}`
	denyUnnamedUsers = `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
		{"Effect":"Deny","Action":"s3:GetObject","Resource":"*","Condition":{"StringNotEquals":{"aws:username":["alice","bob"]}}}]}`
	agentIgnoreCase = `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*",
		"Condition":{"StringEqualsIgnoreCase":{"aws:UserAgent":"NIX"}}}}`
	denyNotLike = `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
		{"Effect":"Deny","Action":"s3:GetObject","Resource":"*","Condition":{"StringNotLike":{"aws:UserAgent":["Nix/*","Lix/*"]}}}]}`

	// ARN conditions on aws:PrincipalArn.
	arnLikeCache = `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::example-nix-cache/*",
		"Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::000000000000:user/cache-*"}}}}`
	arnAnyAccount = `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::example-nix-cache/*",
		"Condition":{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::*:user/cache-reader"}}}}`
	arnStarNoColon = `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::example-nix-cache/*",
		"Condition":{"ArnLike":{"aws:PrincipalArn":"arn:*:::000000000000:user/cache-reader"}}}}`
	denyArnNotEquals = `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"},
		{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"*",
		 "Condition":{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::000000000000:user/cache-reader"}}}]}`

	// Principals.
	accountPrincipal = `{"Statement":{"Effect":"Allow","Principal":{"AWS":"000000000000"},"Action":"s3:GetObject","Resource":"*"}}`
	rootPrincipal    = `{"Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::000000000000:root"]},"Action":"s3:GetObject","Resource":"*"}}`

	// Wildcards.
	questionMark = `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::example-nix-cache/file?.txt"}}`
	narinfoOnly  = `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::example-nix-cache/*.narinfo"}}`
	actionGlobs  = `{"Statement":{"Effect":"Allow","Action":["s3:Get*","s3:*MultipartUpload*","s3:List?ucket"],"Resource":"*"}}`
	everything   = `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`
)

func TestEvaluate(t *testing.T) {
	const nar = "nar/0aaa.nar.xz"
	cases := []struct {
		name             string
		identity, bucket string
		req              *policy.Request
		want             policy.Decision
	}{
		// The seed's anonymous-read bucket policy.
		{"seed anon: anonymous GetObject", "", seedAnon, get(anonymous, nar), policy.Allow},
		{"seed anon: anonymous GetBucketLocation", "", seedAnon, rq(anonymous, "s3:GetBucketLocation", policy.BucketARN(bucket)), policy.Allow},
		{"seed anon: anonymous ListBucket", "", seedAnon, list(anonymous), policy.Deny},
		{"seed anon: anonymous PutObject", "", seedAnon, rq(anonymous, "s3:PutObject", policy.ObjectARN(bucket, nar)), policy.Deny},
		{"seed anon: other bucket", "", seedAnon, rq(anonymous, "s3:GetObject", policy.ObjectARN("other", nar)), policy.Deny},
		{"seed anon: bucket name prefix is not the bucket", "", seedAnon, rq(anonymous, "s3:GetObject", policy.ObjectARN(bucket+"-evil", nar)), policy.Deny},
		{"seed anon: authenticated user too", "", seedAnon, get(carol, nar), policy.Allow},
		{"seed anon: actions are case-insensitive", "", seedAnon, rq(anonymous, "S3:getobject", policy.ObjectARN(bucket, nar)), policy.Allow},
		{"seed anon: ARNs are case-sensitive", "", seedAnon, rq(anonymous, "s3:GetObject", policy.ObjectARN("Example-Nix-Cache", nar)), policy.Deny},
		// The seed's authenticated-read bucket policy.
		{"seed auth: cache-reader GetObject", "", seedAuth, get(reader, nar), policy.Allow},
		{"seed auth: other user", "", seedAuth, get(carol, nar), policy.Deny},
		{"seed auth: anonymous", "", seedAuth, get(anonymous, nar), policy.Deny},
		{"seed auth: same name, other account", "", seedAuth, get(foreigner, nar), policy.Deny},
		// The seed's upload identity policy.
		{"seed upload: PutObject", seedUpload, "", rq(uploader, "s3:PutObject", policy.ObjectARN(bucket, nar)), policy.Allow},
		{"seed upload: ListBucket", seedUpload, "", list(uploader), policy.Allow},
		{"seed upload: ListBucketMultipartUploads", seedUpload, "", rq(uploader, "s3:ListBucketMultipartUploads", policy.BucketARN(bucket)), policy.Allow},
		{"seed upload: AbortMultipartUpload", seedUpload, "", rq(uploader, "s3:AbortMultipartUpload", policy.ObjectARN(bucket, nar)), policy.Allow},
		{"seed upload: DeleteObject", seedUpload, "", rq(uploader, "s3:DeleteObject", policy.ObjectARN(bucket, nar)), policy.Deny},
		{"seed upload: PutBucketPolicy", seedUpload, "", rq(uploader, "s3:PutBucketPolicy", policy.BucketARN(bucket)), policy.Deny},
		{"seed upload: CreateBucket", seedUpload, "", rq(uploader, "s3:CreateBucket", policy.BucketARN("new-bucket")), policy.Deny},
		{"seed upload: other bucket", seedUpload, "", rq(uploader, "s3:PutObject", policy.ObjectARN("other", nar)), policy.Deny},
		{"seed upload with anon bucket policy: list", seedUpload, seedAnon, list(uploader), policy.Allow},

		// Combining identity and bucket policies.
		{"nothing attached", "", "", get(alice, nar), policy.Deny},
		{"bucket deny beats identity allow", allowAllIdentity, denyDeleteBucket, rq(alice, "s3:DeleteObject", policy.ObjectARN(bucket, nar)), policy.ExplicitDeny},
		{"bucket deny leaves other actions", allowAllIdentity, denyDeleteBucket, rq(alice, "s3:PutObject", policy.ObjectARN(bucket, nar)), policy.Allow},
		{"identity deny beats bucket allow", denySecretIdentity, publicRead, get(alice, "secret/key"), policy.ExplicitDeny},
		{"identity deny elsewhere", denySecretIdentity, publicRead, get(alice, "public/key"), policy.Allow},
		{"bucket allow alone suffices", "", publicRead, get(anonymous, "x"), policy.Allow},

		// NotAction.
		{"NotAction allow: PutObject", notActionAllow, "", rq(alice, "s3:PutObject", policy.ObjectARN(bucket, nar)), policy.Allow},
		{"NotAction allow: DeleteObject excluded", notActionAllow, "", rq(alice, "s3:DeleteObject", policy.ObjectARN(bucket, nar)), policy.Deny},
		{"NotAction allow: excluded case-insensitively", notActionAllow, "", rq(alice, "S3:DELETEOBJECT", policy.ObjectARN(bucket, nar)), policy.Deny},
		{"NotAction deny: write denied", readOnlyGuard, "", rq(alice, "s3:PutObject", policy.ObjectARN(bucket, nar)), policy.ExplicitDeny},
		{"NotAction deny: read passes", readOnlyGuard, "", get(alice, nar), policy.Allow},

		// NotResource.
		{"NotResource deny: other bucket", notResourceDeny, "", rq(alice, "s3:GetObject", policy.ObjectARN("other", nar)), policy.ExplicitDeny},
		{"NotResource deny: own bucket", notResourceDeny, "", get(alice, nar), policy.Allow},
		{"NotResource allow: public key", notResourceAllow, "", get(alice, "public/x"), policy.Allow},
		{"NotResource allow: private key", notResourceAllow, "", get(alice, "private/x"), policy.Deny},

		// NotPrincipal with Deny.
		{"NotPrincipal: named user not denied", "", notPrincipalDeny, get(reader, nar), policy.Allow},
		{"NotPrincipal: other user denied", "", notPrincipalDeny, get(carol, nar), policy.ExplicitDeny},
		{"NotPrincipal: anonymous denied", "", notPrincipalDeny, get(anonymous, nar), policy.ExplicitDeny},
		{"NotPrincipal: denies over identity allow", allowAllIdentity, notPrincipalDeny, get(carol, nar), policy.ExplicitDeny},
		{"NotPrincipal: same name in other account denied", "", notPrincipalDeny, get(foreigner, nar), policy.ExplicitDeny},
		{"NotPrincipal without the account: user denied too", "", notPrincipalUserOnly, get(reader, nar), policy.ExplicitDeny},
		{"NotPrincipal account only: exempts the root", "", notPrincipalAccountDeny, get(policy.Principal{ARN: "arn:aws:iam::000000000000:root", Account: account}, nar), policy.Allow},
		{"NotPrincipal account only: users still denied", "", notPrincipalAccountDeny, get(carol, nar), policy.ExplicitDeny},
		{"NotPrincipal account only: other account denied", "", notPrincipalAccountDeny, get(foreigner, nar), policy.ExplicitDeny},

		// s3:prefix and friends on ListBucket.
		{"prefix: own home", homeDirs, "", list(alice, prefix("home/alice/photos/")), policy.Allow},
		{"prefix: someone else's home", homeDirs, "", list(alice, prefix("home/bob/")), policy.Deny},
		{"prefix: top level", homeDirs, "", list(alice, prefix("")), policy.Allow},
		{"prefix: absent key does not match StringLike", homeDirs, "", list(alice), policy.Deny},
		{"prefix and delimiter: both match", "", prefixDelimiter, list(alice, prefix("projects"), delimiter("/")), policy.Allow},
		{"prefix and delimiter: delimiter absent", "", prefixDelimiter, list(alice, prefix("projects")), policy.Deny},
		{"prefix and delimiter: anonymous not in account", "", prefixDelimiter, list(anonymous, prefix("projects"), delimiter("/")), policy.Deny},
		{"max-keys: within limit", maxKeysLimit, "", list(alice, maxKeys("5")), policy.Allow},
		{"max-keys: over limit", maxKeysLimit, "", list(alice, maxKeys("100")), policy.Deny},
		{"max-keys: not a number", maxKeysLimit, "", list(alice, maxKeys("ten")), policy.Deny},
		{"negated operator, absent key: StringNotEquals is true", denyOtherPrefixes, "", list(alice), policy.ExplicitDeny},
		{"negated operator, allowed prefix", denyOtherPrefixes, "", list(alice, prefix("public/")), policy.Allow},

		// aws:SourceIp.
		{"SourceIp: v4 inside", "", sourceIP, get(anonymous, nar, ip("54.240.143.7")), policy.Allow},
		{"SourceIp: v4 outside", "", sourceIP, get(anonymous, nar, ip("54.240.144.7")), policy.Deny},
		{"SourceIp: v6 inside", "", sourceIP, get(anonymous, nar, ip("2001:db8:1234:5678::42")), policy.Allow},
		{"SourceIp: v6 outside", "", sourceIP, get(anonymous, nar, ip("2001:db8:1234:5679::42")), policy.Deny},
		{"SourceIp: v4-mapped v6 compared as v4", "", sourceIP, get(anonymous, nar, ip("::ffff:54.240.143.9")), policy.Allow},
		{"SourceIp: bare address", "", sourceIP, get(anonymous, nar, ip("192.0.2.7")), policy.Allow},
		{"SourceIp: next to bare address", "", sourceIP, get(anonymous, nar, ip("192.0.2.8")), policy.Deny},
		{"SourceIp: absent", "", sourceIP, get(anonymous, nar), policy.Deny},
		{"NotIpAddress: v4 outside denied", "", denyOutsideNet, get(anonymous, nar, ip("192.0.2.1")), policy.ExplicitDeny},
		{"NotIpAddress: v6 inside passes", "", denyOutsideNet, get(anonymous, nar, ip("fd12::1")), policy.Allow},
		{"NotIpAddress: v4 inside passes", "", denyOutsideNet, get(anonymous, nar, ip("10.1.2.3")), policy.Allow},
		{"NotIpAddress: absent key denied", "", denyOutsideNet, get(anonymous, nar), policy.ExplicitDeny},

		// aws:SecureTransport.
		{"SecureTransport false denied", "", denyInsecure, get(anonymous, nar, secure(false)), policy.ExplicitDeny},
		{"SecureTransport true allowed", "", denyInsecure, get(anonymous, nar, secure(true)), policy.Allow},
		{"SecureTransport as JSON boolean", denyInsecureJSONBool, "", get(alice, nar, secure(false)), policy.ExplicitDeny},
		{"SecureTransport as JSON boolean, https", denyInsecureJSONBool, "", get(alice, nar, secure(true)), policy.Deny},

		// Dates.
		{"DateLessThan: inside window", timeWindow, "", get(alice, nar, at("2026-05-01T12:00:00Z")), policy.Allow},
		{"DateLessThan: after window", timeWindow, "", get(alice, nar, at("2026-07-01T00:00:00Z")), policy.Deny},
		{"DateGreaterThan: before window", timeWindow, "", get(alice, nar, at("2026-03-31T23:59:59Z")), policy.Deny},
		{"DateLessThan: zone offset honoured", timeWindow, "", get(alice, nar, at("2026-07-01T01:00:00+02:00")), policy.Allow},
		{"DateLessThan: no time in context", timeWindow, "", get(alice, nar), policy.Deny},
		{"DateLessThan: epoch seconds value, before", expiresEpoch, "", get(alice, nar, at("2026-01-01T00:00:00Z")), policy.Allow},
		{"DateLessThan: epoch seconds value, after", expiresEpoch, "", get(alice, nar, at("2026-12-01T00:00:00Z")), policy.Deny},
		{"aws:EpochTime: numeric and date", epochNumeric, "", get(alice, nar, at("2026-02-01T00:00:00Z")), policy.Allow},
		{"aws:EpochTime: too early", epochNumeric, "", get(alice, nar, at("2025-12-31T00:00:00Z")), policy.Deny},

		// Null.
		{"Null true: absent key denies", "", denyNoIP, get(anonymous, nar), policy.ExplicitDeny},
		{"Null true: present key passes", "", denyNoIP, get(anonymous, nar, ip("192.0.2.1")), policy.Allow},
		{"Null false: IAM user", "", usersOnly, get(alice, nar), policy.Allow},
		{"Null false: anonymous has no username", "", usersOnly, get(anonymous, nar), policy.Deny},

		// IfExists.
		{"IfExists: absent key passes", nixAgentsIfExists, "", get(alice, nar), policy.Allow},
		{"IfExists: present and matching", nixAgentsIfExists, "", get(alice, nar, agent("Nix/2.18.1 curl/8")), policy.Allow},
		{"IfExists: present, not matching", nixAgentsIfExists, "", get(alice, nar, agent("aws-cli/1.45")), policy.Deny},
		// An absent key makes ...IfExists true, so a Deny with it applies.
		{"IfExists deny: absent key denies", capMaxKeysIfExists, "", list(alice), policy.ExplicitDeny},
		{"IfExists deny: under the cap", capMaxKeysIfExists, "", list(alice, maxKeys("500")), policy.Allow},
		{"IfExists deny: over the cap", capMaxKeysIfExists, "", list(alice, maxKeys("2000")), policy.ExplicitDeny},

		// Set operators.
		{"ForAllValues: absent key is true", forAllAgents, "", get(alice, nar), policy.Allow},
		{"ForAllValues: value outside the set", forAllAgents, "", get(alice, nar, agent("wget")), policy.Deny},
		{"ForAnyValue: absent key is false", forAnyAgents, "", get(alice, nar), policy.Deny},
		{"ForAnyValue: value in the set", forAnyAgents, "", get(alice, nar, agent("Nix/2.18")), policy.Allow},

		// Several values, negation, case.
		{"values ORed: second value", namedUsers, "", get(bob, nar), policy.Allow},
		{"values ORed: none", namedUsers, "", get(carol, nar), policy.Deny},
		{"negated values NORed: listed user", denyUnnamedUsers, "", get(alice, nar), policy.Allow},
		{"negated values NORed: unlisted user", denyUnnamedUsers, "", get(carol, nar), policy.ExplicitDeny},
		{"StringEqualsIgnoreCase", agentIgnoreCase, "", get(alice, nar, agent("nix")), policy.Allow},
		{"StringEquals is case-sensitive", namedUsers, "", get(policy.User(account, "Alice"), nar), policy.Deny},
		{"StringNotLike: matching agent passes", denyNotLike, "", get(alice, nar, agent("Lix/2.91")), policy.Allow},
		{"StringNotLike: other agent denied", denyNotLike, "", get(alice, nar, agent("curl/8")), policy.ExplicitDeny},
		{"key AWS defines but nixbucket never supplies: absent", `{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},
			{"Effect":"Deny","Action":"s3:*","Resource":"*","Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}}]}`,
			"", get(alice, nar), policy.ExplicitDeny},

		// ARN conditions.
		{"ArnLike: matching user", "", arnLikeCache, get(reader, nar), policy.Allow},
		{"ArnLike: other user", "", arnLikeCache, get(carol, nar), policy.Deny},
		{"ArnLike: anonymous has no PrincipalArn", "", arnLikeCache, get(anonymous, nar), policy.Deny},
		{"ArnEquals with wildcard account", "", arnAnyAccount, get(foreigner, nar), policy.Allow},
		{"ArnLike: '*' does not cross ':'", "", arnStarNoColon, get(reader, nar), policy.Deny},
		{"ArnNotEquals deny: named user passes", "", denyArnNotEquals, get(reader, nar), policy.Allow},
		{"ArnNotEquals deny: anonymous (absent key) denied", "", denyArnNotEquals, get(anonymous, nar), policy.ExplicitDeny},

		// Policy variables.
		{"variable: own object", homeDirs, "", rq(alice, "s3:PutObject", policy.ObjectARN(bucket, "home/alice/x")), policy.Allow},
		{"variable: other's object", homeDirs, "", get(alice, "home/bob/x"), policy.Deny},
		{"variable: unresolvable for anonymous", homeDirs, "", get(anonymous, "home//x"), policy.Deny},
		{"variable: literal in 2008-10-17", homeDirsOldVersion, "", get(alice, "home/${aws:username}/x"), policy.Allow},
		{"variable: not expanded in 2008-10-17", homeDirsOldVersion, "", get(alice, "home/alice/x"), policy.Deny},
		{"variable: default value in bucket policy", "", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::example-nix-cache/home/${aws:username, 'anonymous'}/*"}}`,
			get(anonymous, "home/anonymous/x"), policy.Allow},
		{"variable: value wins over default", homeDirsDefault, "", get(alice, "home/alice/x"), policy.Allow},
		{"variable: ${*} is a literal star", literalStar, "", get(alice, "*"), policy.Allow},
		{"variable: ${*} matches nothing else", literalStar, "", get(alice, "x"), policy.Deny},

		// Principals.
		{"account id principal: user in account", "", accountPrincipal, get(alice, nar), policy.Allow},
		{"account id principal: anonymous", "", accountPrincipal, get(anonymous, nar), policy.Deny},
		{"account id principal: other account", "", accountPrincipal, get(foreigner, nar), policy.Deny},
		{"root ARN principal: user in account", "", rootPrincipal, get(bob, nar), policy.Allow},
		{"{\"AWS\":\"*\"} includes anonymous", "", publicRead, get(anonymous, nar), policy.Allow},

		// Wildcards.
		{"'?' is one character", questionMark, "", get(alice, "file1.txt"), policy.Allow},
		{"'?' is not two", questionMark, "", get(alice, "file10.txt"), policy.Deny},
		{"'?' is one character, not one byte", questionMark, "", get(alice, "fileé.txt"), policy.Allow},
		{"'*' spans '/'", narinfoOnly, "", get(alice, "a/b/c.narinfo"), policy.Allow},
		{"'*' suffix must match", narinfoOnly, "", get(alice, "a.narinfo.bak"), policy.Deny},
		{"action glob Get*", actionGlobs, "", rq(alice, "s3:GetBucketLocation", "arn:aws:s3:::b"), policy.Allow},
		{"action glob *MultipartUpload*", actionGlobs, "", rq(alice, "s3:ListBucketMultipartUploads", "arn:aws:s3:::b"), policy.Allow},
		{"action glob ?", actionGlobs, "", rq(alice, "s3:listbucket", "arn:aws:s3:::b"), policy.Allow},
		{"action glob no match", actionGlobs, "", rq(alice, "s3:PutObject", "arn:aws:s3:::b/k"), policy.Deny},
		{"Action * Resource *", everything, "", rq(alice, "s3:ListAllMyBuckets", "arn:aws:s3:::*"), policy.Allow},
	}
	if len(cases) < 60 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var identity, bkt *policy.Policy
			var err error
			if tc.identity != "" {
				if identity, err = policy.ParseIdentity(doc(t, tc.identity)); err != nil {
					t.Fatalf("identity policy: %v", err)
				}
			}
			if tc.bucket != "" {
				if bkt, err = policy.ParseBucket(doc(t, tc.bucket)); err != nil {
					t.Fatalf("bucket policy: %v", err)
				}
			}
			if got := policy.Decide(identity, bkt, tc.req); got != tc.want {
				t.Errorf("Decide = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestConcurrentEvaluate shares one Policy between goroutines; run with
// -race.
func TestConcurrentEvaluate(t *testing.T) {
	p, err := policy.ParseIdentity([]byte(homeDirs))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	for _, u := range []policy.Principal{alice, bob, carol, anonymous} {
		go func() {
			ok := true
			for range 200 {
				want := policy.Allow
				if u.IsAnonymous() {
					want = policy.Deny
				}
				ok = ok && p.Evaluate(get(u, "home/"+u.Username+"/k")) == want
			}
			done <- ok
		}()
	}
	for range 4 {
		if !<-done {
			t.Error("wrong decision under concurrency")
		}
	}
}

func TestGrantsAnonymous(t *testing.T) {
	for _, c := range []struct {
		doc  string
		want bool
	}{
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`, true},
		{`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/nar/*"}]}`, true},
		{`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/r"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`, false},
		{`{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}]}`, false},
	} {
		p, err := policy.ParseBucket([]byte(c.doc))
		if err != nil {
			t.Fatal(err)
		}
		if got := p.GrantsAnonymous(); got != c.want {
			t.Errorf("%s: GrantsAnonymous = %v, want %v", c.doc, got, c.want)
		}
	}
	var nilPolicy *policy.Policy
	if nilPolicy.GrantsAnonymous() {
		t.Error("nil policy grants anonymous")
	}
}
