package access_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/access"
)

// authzCase is one Authorize question and its expected answer.
type authzCase struct {
	name     string
	id       access.Identity
	method   string
	target   string // path and query of the request
	opts     []func(*http.Request)
	action   string
	resource string
	want     bool
}

// listAction in an authzCase asks AuthorizeList, as a ListObjects
// request does, rather than Authorize of s3:ListBucket.
const listAction = "ListObjects"

func runAuthz(t *testing.T, e *env, cases []authzCase) {
	t.Helper()
	for _, c := range cases {
		method := c.method
		if method == "" {
			method = "GET"
		}
		target := c.target
		if target == "" {
			target = "/"
		}
		r := request(method, target, c.opts...)
		allowed := e.allowed
		if c.action == listAction {
			allowed = e.allowedList
		}
		if got := allowed(r, c.id, c.action, c.resource); got != c.want {
			t.Errorf("%s: Authorize(%s %s, %s, %s) allowed = %v, want %v",
				c.name, method, target, c.action, c.resource, got, c.want)
		}
	}
}

// doc is a policy document with the given statements.
func doc(statements ...string) string {
	return `{"Version": "2012-10-17", "Statement": [` + strings.Join(statements, ",") + `]}`
}

func TestAuthorizeAnonymousRead(t *testing.T) {
	e := newEnv(t)
	e.bucketPolicy(cacheBucket, seed(t, "seed-anonymous-read.bucket.json"))
	carol := e.keyID(e.user("carol", ""))
	obj := "/" + cacheBucket + "/" + narinfoKey
	runAuthz(t, e, []authzCase{
		{"get", anonymous, "GET", obj, nil, "s3:GetObject", objectARN(narinfoKey), true},
		{"head", anonymous, "HEAD", obj, nil, "s3:GetObject", objectARN(narinfoKey), true},
		{"nested key", anonymous, "GET", "", nil, "s3:GetObject", objectARN(narKey), true},
		{"location", anonymous, "GET", "/" + cacheBucket + "?location", nil, "s3:GetBucketLocation", bucketARN, true},
		{"action case", anonymous, "GET", obj, nil, "S3:getobject", objectARN(narinfoKey), true},
		{"list", anonymous, "GET", "/" + cacheBucket + "?list-type=2", nil, "s3:ListBucket", bucketARN, false},
		{"put", anonymous, "PUT", obj, nil, "s3:PutObject", objectARN(narinfoKey), false},
		{"delete", anonymous, "DELETE", obj, nil, "s3:DeleteObject", objectARN(narinfoKey), false},
		{"get policy", anonymous, "GET", "/" + cacheBucket + "?policy", nil, "s3:GetBucketPolicy", bucketARN, false},
		{"location of object ARN", anonymous, "", "", nil, "s3:GetBucketLocation", objectARN("x"), true},
		{"other bucket", anonymous, "GET", "/" + otherBucket + "/x", nil, "s3:GetObject", "arn:aws:s3:::" + otherBucket + "/x", false},
		{"bucket name prefix", anonymous, "", "", nil, "s3:GetObject", "arn:aws:s3:::" + cacheBucket + "-2/x", false},
		{"resource case", anonymous, "", "", nil, "s3:GetObject", "arn:aws:s3:::EXAMPLE-NIX-CACHE/x", false},
		{"missing bucket", anonymous, "", "", nil, "s3:GetObject", "arn:aws:s3:::no-such-bucket/x", false},
		{"list all buckets", anonymous, "GET", "/", nil, "s3:ListAllMyBuckets", "arn:aws:s3:::*", false},
		// Principal "*" includes authenticated users.
		{"user without policy", carol, "GET", obj, nil, "s3:GetObject", objectARN(narinfoKey), true},
		{"user without policy put", carol, "PUT", obj, nil, "s3:PutObject", objectARN(narinfoKey), false},
	})
}

func TestAuthorizeListPrefix(t *testing.T) {
	e := newEnv(t)
	e.bucketPolicy(cacheBucket, []byte(doc(
		`{"Sid": "ListNars", "Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
		  "Resource": "arn:aws:s3:::example-nix-cache",
		  "Condition": {"StringLike": {"s3:prefix": ["nar/*", ""]},
		                "NumericLessThanEqualsIfExists": {"s3:max-keys": "100"}}}`,
		`{"Sid": "OnlySlash", "Effect": "Deny", "Principal": "*", "Action": "s3:ListBucket",
		  "Resource": "arn:aws:s3:::example-nix-cache",
		  "Condition": {"Null": {"s3:delimiter": "false"}, "StringNotEquals": {"s3:delimiter": "/"}}}`,
		`{"Sid": "GetNeedsPrefix", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
		  "Resource": "arn:aws:s3:::example-nix-cache/*",
		  "Condition": {"Null": {"s3:prefix": "false"}}}`,
	)))
	list := func(name, query string, want bool) authzCase {
		return authzCase{name, anonymous, "GET", "/" + cacheBucket + query, nil, listAction, bucketARN, want}
	}
	runAuthz(t, e, []authzCase{
		list("v2 nar prefix", "?list-type=2&prefix=nar/", true),
		list("v1 nar prefix", "?prefix=nar/abc", true),
		list("escaped prefix", "?prefix=nar%2Fabc", true),
		list("empty prefix", "?prefix=", true),
		list("bare prefix", "?prefix", true),
		list("max-keys at limit", "?prefix=nar/&max-keys=100", true),
		list("max-keys over limit", "?prefix=nar/&max-keys=101", false),
		list("max-keys not a number", "?prefix=nar/&max-keys=many", false),
		list("slash delimiter", "?prefix=nar/&delimiter=/", true),
		list("other delimiter", "?prefix=nar/&delimiter=-", false),
		list("no prefix", "?list-type=2", false),
		list("no query", "", false),
		list("near miss", "?prefix=narinfo/", false),
		list("other prefix", "?prefix=other/", false),
		list("prefix is case-sensitive", "?prefix=NAR/", false),
		// s3:prefix belongs to ListBucket: other actions never see it.
		{"get with prefix query", anonymous, "GET", "/" + cacheBucket + "/nar/x?prefix=nar/", nil, "s3:GetObject", objectARN("nar/x"), false},
		{"list other bucket", anonymous, "GET", "/" + otherBucket + "?prefix=nar/", nil, listAction, "arn:aws:s3:::" + otherBucket, false},
		// Nor does s3:ListBucket asked for anything but a listing
		// (HeadBucket, the console, the pin API): a prefix parameter
		// added to those would pass the condition without bounding what
		// they show.
		{"head bucket with prefix query", anonymous, "HEAD", "/" + cacheBucket + "?prefix=nar/", nil, "s3:ListBucket", bucketARN, false},
		{"console page with prefix query", anonymous, "GET", "/-/ui/b/" + cacheBucket + "?prefix=nar/", nil, "s3:ListBucket", bucketARN, false},
	})
}

func TestAuthorizeSourceIP(t *testing.T) {
	e := newEnv(t)
	e.bucketPolicy(cacheBucket, []byte(doc(
		`{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::example-nix-cache/*",
		  "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}}}`,
		`{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::example-nix-cache/*",
		  "Condition": {"IpAddress": {"aws:SourceIp": "10.66.0.0/16"}}}`,
	)))
	get := func(name, addr string, want bool, opts ...func(*http.Request)) authzCase {
		return authzCase{name, anonymous, "GET", "/" + cacheBucket + "/x", append([]func(*http.Request){from(addr)}, opts...),
			"s3:GetObject", objectARN("x"), want}
	}
	runAuthz(t, e, []authzCase{
		get("v4 inside", "10.1.2.3:5555", true),
		get("v4 outside", "192.0.2.1:1234", false),
		get("v4 denied subnet", "10.66.1.1:80", false),
		get("v6 inside", "[2001:db8::1]:443", true),
		get("v6 outside", "[2001:db9::1]:443", false),
		get("v4-mapped v6", "[::ffff:10.1.2.3]:80", true),
		get("v4-mapped v6 in denied subnet", "[::ffff:10.66.0.1]:80", false),
		get("no address", "", false),
		get("no port, as forwarded.Proxies.Wrap sets it", "10.1.2.3", true),
		get("garbage", "pipe", false),
		// Forwarding headers are the client's word, not its address.
		get("forwarded-for ignored", "192.0.2.1:1234", false, header("X-Forwarded-For", "10.1.2.3")),
	})
}

func TestAuthorizeSecureTransport(t *testing.T) {
	e := newEnv(t)
	root, err := e.svc.CreateKey(e.ctx, access.RootUser)
	if err != nil {
		t.Fatal(err)
	}
	e.bucketPolicy(cacheBucket, []byte(doc(
		`{"Sid": "AllowDirectReads", "Effect": "Allow", "Principal": "*",
		  "Action": ["s3:GetObject", "s3:GetBucketLocation"],
		  "Resource": ["arn:aws:s3:::example-nix-cache", "arn:aws:s3:::example-nix-cache/*"]}`,
		`{"Sid": "TLSOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
		  "Resource": ["arn:aws:s3:::example-nix-cache", "arn:aws:s3:::example-nix-cache/*"],
		  "Condition": {"Bool": {"aws:SecureTransport": "false"}}}`,
	)))
	obj := "/" + cacheBucket + "/x"
	runAuthz(t, e, []authzCase{
		{"tls", anonymous, "GET", obj, []func(*http.Request){overTLS}, "s3:GetObject", objectARN("x"), true},
		{"plain", anonymous, "GET", obj, nil, "s3:GetObject", objectARN("x"), false},
		{"plain location", anonymous, "GET", "/" + cacheBucket + "?location", nil, "s3:GetBucketLocation", bucketARN, false},
		// A proxy's word is not a TLS connection: plain HTTP stays insecure
		// whatever the client claims.
		{"plain claiming https", anonymous, "GET", obj, []func(*http.Request){claimHTTPS}, "s3:GetObject", objectARN("x"), false},
		{"root over plain", e.keyID(root), "GET", obj, nil, "s3:GetObject", objectARN("x"), true},
	})
	// Without a request, as for internal checks, the transport is not secure.
	if err := e.svc.Authorize(e.ctx, nil, anonymous, "s3:GetObject", objectARN("x")); err == nil {
		t.Error("Authorize without a request passed the TLS-only policy")
	}
}

// claimHTTPS adds the headers a TLS-terminating proxy would send.
func claimHTTPS(r *http.Request) {
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Ssl", "on")
	r.Header.Set("Forwarded", "proto=https")
	r.URL.Scheme = "https"
}

func TestAuthorizeOtherConditions(t *testing.T) {
	e := newEnv(t)
	e.bucketPolicy(cacheBucket, []byte(doc(
		`{"Sid": "NixOnly", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
		  "Resource": "arn:aws:s3:::example-nix-cache/*",
		  "Condition": {"StringLike": {"aws:UserAgent": "Nix/*"}}}`,
		`{"Sid": "UntilJuly", "Effect": "Allow", "Principal": "*", "Action": "s3:GetBucketLocation",
		  "Resource": "arn:aws:s3:::example-nix-cache",
		  "Condition": {"DateLessThan": {"aws:CurrentTime": "2025-07-01T00:00:00Z"}}}`,
	)))
	get := func(name, ua string, want bool) authzCase {
		return authzCase{name, anonymous, "GET", "/" + cacheBucket + "/x", []func(*http.Request){header("User-Agent", ua)},
			"s3:GetObject", objectARN("x"), want}
	}
	runAuthz(t, e, []authzCase{
		get("nix", "Nix/2.24.10", true),
		get("curl", "curl/8.5.0", false),
		get("no agent", "", false),
		{"before july", anonymous, "GET", "/" + cacheBucket + "?location", nil, "s3:GetBucketLocation", bucketARN, true},
	})
	e.clock.Set(time.Date(2025, 6, 30, 23, 59, 59, 0, time.UTC))
	runAuthz(t, e, []authzCase{{"last second of june", anonymous, "", "", nil, "s3:GetBucketLocation", bucketARN, true}})
	e.clock.Add(time.Second)
	runAuthz(t, e, []authzCase{{"july", anonymous, "", "", nil, "s3:GetBucketLocation", bucketARN, false}})
}

// TestAuthorizeRoot checks that root bypasses every policy, even one that
// denies everybody everything.
func TestAuthorizeRoot(t *testing.T) {
	e := newEnv(t)
	rk, err := e.svc.CreateKey(e.ctx, access.RootUser)
	if err != nil {
		t.Fatal(err)
	}
	root := e.keyID(rk)
	alice := e.keyID(e.userDoc("alice", doc(`{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}`)))
	e.bucketPolicy(cacheBucket, []byte(doc(
		`{"Effect": "Deny", "Principal": "*", "Action": "*",
		  "Resource": ["arn:aws:s3:::example-nix-cache", "arn:aws:s3:::example-nix-cache/*"]}`)))
	for _, c := range []struct{ action, resource string }{
		{"s3:GetObject", objectARN("x")},
		{"s3:DeleteObject", objectARN("x")},
		{"s3:PutBucketPolicy", bucketARN},
		{"s3:DeleteBucket", bucketARN},
		{"s3:ListAllMyBuckets", "arn:aws:s3:::*"},
		{"s3:CreateBucket", "arn:aws:s3:::new-bucket"},
		{"s3:GetObject", "arn:aws:s3:::no-such-bucket/x"},
	} {
		r := request("GET", "/")
		if !e.allowed(r, root, c.action, c.resource) {
			t.Errorf("root denied %s on %s", c.action, c.resource)
		}
		inCache := strings.HasPrefix(c.resource, bucketARN)
		if got := e.allowed(r, alice, c.action, c.resource); got == inCache {
			t.Errorf("alice allowed = %v for %s on %s; the bucket policy's deny should decide", got, c.action, c.resource)
		}
		if e.allowed(r, anonymous, c.action, c.resource) {
			t.Errorf("anonymous allowed %s on %s", c.action, c.resource)
		}
	}
	// Root needs no lookup at all beyond its key's. (alice's were counted
	// above, so compare root alone.)
	before := e.store.users.Load() + e.store.buckets.Load()
	for range 3 {
		e.allowed(request("GET", "/"), root, "s3:GetObject", "arn:aws:s3:::fresh-bucket/x")
	}
	if n := e.store.users.Load() + e.store.buckets.Load() - before; n != 0 {
		t.Errorf("root's requests read the store %d times", n)
	}
}
