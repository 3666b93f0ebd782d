package access_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/policy"
)

// Tests of how the user's, the token's and the bucket's policies combine,
// and of policy changes reaching the next request.

func TestAuthorizeUpload(t *testing.T) {
	e := newEnv(t)
	e.bucketPolicy(cacheBucket, seed(t, "seed-anonymous-read.bucket.json"))
	up := e.keyID(e.user("cache-upload", "seed-upload.iam.json"))
	other := "arn:aws:s3:::" + otherBucket
	runAuthz(t, e, []authzCase{
		{"put", up, "PUT", "", nil, "s3:PutObject", objectARN(narKey), true},
		{"get", up, "GET", "", nil, "s3:GetObject", objectARN(narKey), true},
		{"list", up, "GET", "/" + cacheBucket + "?list-type=2", nil, "s3:ListBucket", bucketARN, true},
		{"location", up, "GET", "", nil, "s3:GetBucketLocation", bucketARN, true},
		{"abort", up, "DELETE", "", nil, "s3:AbortMultipartUpload", objectARN(narKey), true},
		{"list uploads", up, "GET", "", nil, "s3:ListBucketMultipartUploads", bucketARN, true},
		{"list parts", up, "GET", "", nil, "s3:ListMultipartUploadParts", objectARN(narKey), true},
		{"delete", up, "DELETE", "", nil, "s3:DeleteObject", objectARN(narKey), false},
		{"put bucket policy", up, "PUT", "", nil, "s3:PutBucketPolicy", bucketARN, false},
		{"create bucket", up, "PUT", "", nil, "s3:CreateBucket", "arn:aws:s3:::new-bucket", false},
		{"list all buckets", up, "GET", "/", nil, "s3:ListAllMyBuckets", "arn:aws:s3:::*", false},
		{"put other bucket", up, "PUT", "", nil, "s3:PutObject", other + "/x", false},
		{"get other bucket", up, "GET", "", nil, "s3:GetObject", other + "/x", false},
		{"list other bucket", up, "GET", "", nil, "s3:ListBucket", other, false},
	})
}

func TestAuthorizeAuthenticatedRead(t *testing.T) {
	e := newEnv(t)
	e.bucketPolicy(cacheBucket, seed(t, "seed-authenticated-read.bucket.json"))
	reader := e.keyID(e.user("cache-reader", ""))
	carol := e.keyID(e.user("carol", ""))
	readerTok, err := e.svc.TokenIdentity(e.ctx, e.token("cache-reader", 0, ""), "cache-reader")
	if err != nil {
		t.Fatal(err)
	}
	runAuthz(t, e, []authzCase{
		{"reader get", reader, "GET", "", nil, "s3:GetObject", objectARN(narKey), true},
		{"reader location", reader, "GET", "", nil, "s3:GetBucketLocation", bucketARN, true},
		{"reader by token", readerTok, "GET", "", nil, "s3:GetObject", objectARN(narKey), true},
		{"reader put", reader, "PUT", "", nil, "s3:PutObject", objectARN(narKey), false},
		{"reader list", reader, "GET", "", nil, "s3:ListBucket", bucketARN, false},
		{"other user", carol, "GET", "", nil, "s3:GetObject", objectARN(narKey), false},
		{"anonymous", anonymous, "GET", "", nil, "s3:GetObject", objectARN(narKey), false},
	})

	// The same user name in another account is another principal.
	e2 := newEnvOpts(t, access.Options{Account: "123456789012"})
	if e2.svc.Account() != "123456789012" {
		t.Fatalf("Account() = %q", e2.svc.Account())
	}
	e2.bucketPolicy(cacheBucket, seed(t, "seed-authenticated-read.bucket.json"))
	reader2 := e2.keyID(e2.user("cache-reader", ""))
	runAuthz(t, e2, []authzCase{
		{"reader of another account", reader2, "", "", nil, "s3:GetObject", objectARN(narKey), false},
	})
	e2.bucketPolicy(cacheBucket, []byte(doc(`{"Effect": "Allow", "Principal": {"AWS": "123456789012"},
		"Action": "s3:GetObject", "Resource": "arn:aws:s3:::example-nix-cache/*"}`)))
	runAuthz(t, e2, []authzCase{
		{"account principal", reader2, "", "", nil, "s3:GetObject", objectARN(narKey), true},
		{"account principal excludes anonymous", anonymous, "", "", nil, "s3:GetObject", objectARN(narKey), false},
	})
	if got := newEnv(t).svc.Account(); got != access.DefaultAccount {
		t.Errorf("default Account() = %q, want %q", got, access.DefaultAccount)
	}
}

// TestAuthorizeExplicitDeny checks that an explicit Deny in either policy
// beats an Allow in the other.
func TestAuthorizeExplicitDeny(t *testing.T) {
	e := newEnv(t)
	up := e.keyID(e.user("cache-upload", "seed-upload.iam.json"))
	e.bucketPolicy(cacheBucket, []byte(doc(
		`{"Sid": "AllowDirectReads", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
		  "Resource": "arn:aws:s3:::example-nix-cache/*"}`,
		`{"Sid": "NoPrivateUploads", "Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::000000000000:user/cache-upload"},
		  "Action": "s3:PutObject", "Resource": "arn:aws:s3:::example-nix-cache/private/*"}`)))
	noGet := e.keyID(e.userDoc("no-get", doc(`{"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::example-nix-cache/*"}`)))
	runAuthz(t, e, []authzCase{
		{"user allow", up, "PUT", "", nil, "s3:PutObject", objectARN(narKey), true},
		{"bucket deny beats user allow", up, "PUT", "", nil, "s3:PutObject", objectARN("private/x"), false},
		{"bucket allow for anyone", anonymous, "GET", "", nil, "s3:GetObject", objectARN(narKey), true},
		{"user deny beats bucket allow", noGet, "GET", "", nil, "s3:GetObject", objectARN(narKey), false},
	})
}

func TestAuthorizeListAllMyBuckets(t *testing.T) {
	e := newEnv(t)
	e.bucketPolicy(cacheBucket, seed(t, "seed-anonymous-read.bucket.json"))
	lister := e.keyID(e.userDoc("lister", doc(`{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "arn:aws:s3:::*"}`)))
	carol := e.keyID(e.user("carol", ""))
	before := e.store.buckets.Load()
	runAuthz(t, e, []authzCase{
		{"allowed by user policy", lister, "GET", "/", nil, "s3:ListAllMyBuckets", "arn:aws:s3:::*", true},
		{"no policy", carol, "GET", "/", nil, "s3:ListAllMyBuckets", "arn:aws:s3:::*", false},
		{"anonymous", anonymous, "GET", "/", nil, "s3:ListAllMyBuckets", "arn:aws:s3:::*", false},
		{"lister may not read", lister, "GET", "", nil, "s3:GetObject", "arn:aws:s3:::" + otherBucket + "/x", false},
	})
	// Only the last case names a bucket: "arn:aws:s3:::*" has no bucket policy.
	if n := e.store.buckets.Load() - before; n != 1 {
		t.Errorf("%d bucket policy lookups, want 1 (for %s only)", n, otherBucket)
	}
}

func TestAuthorizePolicyVariables(t *testing.T) {
	e := newEnv(t)
	home := doc(`{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::example-nix-cache/home/${aws:username}/*"}`)
	alice := e.keyID(e.userDoc("alice", home))
	bob := e.keyID(e.userDoc("bob", home))
	runAuthz(t, e, []authzCase{
		{"own home", alice, "PUT", "", nil, "s3:PutObject", objectARN("home/alice/x"), true},
		{"other's home", alice, "PUT", "", nil, "s3:PutObject", objectARN("home/bob/x"), false},
		{"bob's own home", bob, "PUT", "", nil, "s3:PutObject", objectARN("home/bob/x"), true},
		{"name prefix", bob, "PUT", "", nil, "s3:PutObject", objectARN("home/bobby/x"), false},
	})
}

// TestTokenNarrowing checks that a token acts as its user within its own
// policy: it can take rights away, never add them.
func TestTokenNarrowing(t *testing.T) {
	e := newEnv(t)
	e.bucketPolicy(cacheBucket, seed(t, "seed-authenticated-read.bucket.json"))
	key := e.user("cache-upload", "seed-upload.iam.json")
	e.user("cache-reader", "")
	asToken := func(user, policyDoc string) access.Identity {
		t.Helper()
		id, err := e.svc.TokenIdentity(e.ctx, e.token(user, 0, policyDoc), user)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	readOnly := doc(`{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
		"Resource": ["arn:aws:s3:::example-nix-cache", "arn:aws:s3:::example-nix-cache/*"]}`)
	everything := doc(`{"Effect": "Allow", "Action": "*", "Resource": "*"}`)
	noNars := doc(`{"Effect": "Allow", "Action": "*", "Resource": "*"}`,
		`{"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::example-nix-cache/nar/*"}`)
	user := e.keyID(key)
	ro := asToken("cache-upload", readOnly)
	full := asToken("cache-upload", "")
	all := asToken("cache-upload", everything)
	reader := asToken("cache-reader", noNars)
	readerRO := asToken("cache-reader", doc(`{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}`))
	put := func(name string, id access.Identity, want bool) authzCase {
		return authzCase{name, id, "PUT", "", nil, "s3:PutObject", objectARN(narKey), want}
	}
	get := func(name string, id access.Identity, key string, want bool) authzCase {
		return authzCase{name, id, "GET", "", nil, "s3:GetObject", objectARN(key), want}
	}
	runAuthz(t, e, []authzCase{
		put("user's key", user, true),
		put("token without policy", full, true),
		put("read-only token", ro, false),
		get("read-only token get", ro, narKey, true),
		{"read-only token list", ro, "GET", "", nil, "s3:ListBucket", bucketARN, true},
		{"wide token adds nothing", all, "DELETE", "", nil, "s3:DeleteObject", objectARN(narKey), false},
		put("wide token", all, true),
		// Narrowing applies to what the bucket policy grants too.
		get("bucket-granted read", reader, narinfoKey, true),
		get("bucket-granted read denied by token", reader, narKey, false),
		get("bucket-granted read not in token", readerRO, narinfoKey, false),
	})
}

// TestPolicyChangesTakeEffect changes policies through a second Store, as
// the CLI does while the server runs: each change decides the next request.
func TestPolicyChangesTakeEffect(t *testing.T) {
	e := newEnv(t)
	cli := e.CLI()
	alice := e.keyID(e.user("alice", ""))
	read := func() bool { return e.allowed(request("GET", "/"), anonymous, "s3:GetObject", objectARN(narKey)) }
	list := func() bool { return e.allowed(request("GET", "/"), anonymous, "s3:ListBucket", bucketARN) }
	put := func() bool { return e.allowed(request("PUT", "/"), alice, "s3:PutObject", objectARN(narKey)) }
	anon := seed(t, "seed-anonymous-read.bucket.json")
	withList := bytes.Replace(anon, []byte(`"s3:GetBucketLocation"`), []byte(`"s3:GetBucketLocation", "s3:ListBucket"`), 1)

	e.bucketPolicy(cacheBucket, anon)
	steps := []struct {
		name                 string
		change               func() error
		read, list, mayWrite bool
	}{
		{"set through the service", func() error { return nil }, true, false, false},
		{"ListBucket added", func() error { return cli.SetBucketPolicy(e.ctx, cacheBucket, withList) }, true, true, false},
		{"principal-restricted", func() error {
			return cli.SetBucketPolicy(e.ctx, cacheBucket, seed(t, "seed-authenticated-read.bucket.json"))
		}, false, false, false},
		{"deleted", func() error { return cli.SetBucketPolicy(e.ctx, cacheBucket, nil) }, false, false, false},
		{"set again", func() error { return e.svc.SetBucketPolicy(e.ctx, cacheBucket, anon) }, true, false, false},
		{"user policy set", func() error { return cli.SetUserPolicy(e.ctx, "alice", seed(t, "seed-upload.iam.json")) }, true, false, true},
		{"bucket deleted", func() error { return cli.DeleteBucket(e.ctx, cacheBucket) }, false, false, true},
		{"bucket recreated without its policy", func() error {
			return cli.CreateBucket(e.ctx, meta.Bucket{Name: cacheBucket, Created: e.clock.Now()})
		}, false, false, true},
		{"user policy removed", func() error { return cli.SetUserPolicy(e.ctx, "alice", nil) }, false, false, false},
	}
	for _, s := range steps {
		if err := s.change(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		for range 2 { // the first request loads, the second hits the cache
			if r, l, w := read(), list(), put(); r != s.read || l != s.list || w != s.mayWrite {
				t.Fatalf("%s: read %v list %v put %v; want %v %v %v", s.name, r, l, w, s.read, s.list, s.mayWrite)
			}
		}
	}

	// A user deleted meanwhile is refused, not treated as anonymous.
	if err := cli.DeleteUser(e.ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Authorize(e.ctx, request("GET", "/"), alice, "s3:GetObject", objectARN(narKey)); !errors.Is(err, access.ErrBadCredentials) {
		t.Errorf("Authorize for a deleted user = %v, want ErrBadCredentials", err)
	}
	// So is an Identity that is neither anonymous nor anybody.
	if err := e.svc.Authorize(e.ctx, request("GET", "/"), access.Identity{}, "s3:GetObject", objectARN(narKey)); err == nil {
		t.Error("the zero Identity was allowed")
	}
}

func TestAuthorizeWarmCache(t *testing.T) {
	e := newEnv(t)
	e.bucketPolicy(cacheBucket, seed(t, "seed-anonymous-read.bucket.json"))
	up := e.keyID(e.user("cache-upload", "seed-upload.iam.json"))
	tok, err := e.svc.TokenIdentity(e.ctx, e.token("cache-upload", 0, ""), "")
	if err != nil {
		t.Fatal(err)
	}
	ask := func() {
		for _, id := range []access.Identity{anonymous, up, tok} {
			e.allowed(request("PUT", "/"), id, "s3:PutObject", objectARN(narKey))
		}
	}
	ask()
	s := e.store
	before := s.users.Load() + s.buckets.Load() + s.tokens.Load() + s.keys.Load()
	ask()
	if n := s.users.Load() + s.buckets.Load() + s.tokens.Load() + s.keys.Load() - before; n != 0 {
		t.Errorf("warm requests read the store %d times", n)
	}
}

// TestStoredPoliciesThatDoNotParse covers documents written to the store
// without validation (by an older version, or by hand): a user's or a
// bucket's grants nothing, and a token's makes the token unusable rather
// than leaving it with its user's full rights.
func TestStoredPoliciesThatDoNotParse(t *testing.T) {
	var logs bytes.Buffer
	e := newEnvOpts(t, access.Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	e.bucketPolicy(cacheBucket, seed(t, "seed-anonymous-read.bucket.json"))
	alice := e.keyID(e.user("alice", "seed-upload.iam.json"))
	cli := e.CLI()
	if err := cli.SetUserPolicy(e.ctx, "alice", []byte(`{"Statement": "nonsense"}`)); err != nil {
		t.Fatal(err)
	}
	if e.allowed(request("PUT", "/"), alice, "s3:PutObject", objectARN(narKey)) {
		t.Error("an unparsable user policy granted PutObject")
	}
	if !e.allowed(request("GET", "/"), alice, "s3:GetObject", objectARN(narKey)) {
		t.Error("an unparsable user policy cost the bucket policy's grant")
	}
	if err := cli.SetBucketPolicy(e.ctx, cacheBucket, []byte(`{"Statement": [{"Effect": "Allow"}]}`)); err != nil {
		t.Fatal(err)
	}
	if e.allowed(request("GET", "/"), anonymous, "s3:GetObject", objectARN(narKey)) {
		t.Error("an unparsable bucket policy granted GetObject")
	}
	for _, want := range []string{"user=alice", "bucket=" + cacheBucket} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not report the bad policy of %s:\n%s", want, logs.String())
		}
	}

	// A token stored with a policy that does not parse.
	e.user("bob", "seed-upload.iam.json")
	_, text, hash := access.NewToken()
	id := strings.SplitN(text, "_", 3)[1]
	if err := cli.PutToken(e.ctx, meta.Token{ID: id, User: "bob", Hash: hash, Created: e.clock.Now(), Policy: []byte(`[`)}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.svc.TokenIdentity(e.ctx, text, "bob"); !errors.Is(err, access.ErrBadCredentials) {
		t.Errorf("token with an unparsable policy: %+v, %v; want ErrBadCredentials", got, err)
	}
}

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id, text, hash := access.NewToken()
		rest, ok := strings.CutPrefix(text, access.TokenPrefix+id+"_")
		if !ok || len(id) != 12 || len(rest) != 40 {
			t.Fatalf("NewToken = %q, %q", id, text)
		}
		if sum := sha256.Sum256([]byte(rest)); !bytes.Equal(hash, sum[:]) {
			t.Fatalf("hash of %q is not the SHA-256 of its secret", text)
		}
		if strings.Trim(id+rest, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("token %q has characters outside its alphabet", text)
		}
		if seen[id] || seen[rest] {
			t.Fatalf("NewToken repeated itself: %q", text)
		}
		seen[id], seen[rest] = true, true
	}
}

func TestSetBucketPolicy(t *testing.T) {
	e := newEnv(t)
	anon := seed(t, "seed-anonymous-read.bucket.json")
	for _, c := range []struct {
		name, bucket string
		doc          []byte
		stmt         int
		field        string
		inMsg        []string
	}{
		{"another bucket's resources", otherBucket, anon, 1, "Resource", []string{"statement 1", `"AllowDirectReads"`, "Resource", cacheBucket}},
		{"bucket name prefix", cacheBucket, bytes.ReplaceAll(anon, []byte(cacheBucket+`"`), []byte(cacheBucket+`-2"`)), 1, "Resource", []string{"Resource"}},
		{"identity policy", cacheBucket, seed(t, "seed-upload.iam.json"), 1, "Principal", []string{"statement 1", `"UploadToCache"`}},
		{"not json", cacheBucket, []byte(`{`), 0, "", []string{"invalid JSON"}},
		{"empty", cacheBucket, nil, 0, "", nil},
		{"iam action", cacheBucket, []byte(doc(`{"Effect": "Allow", "Principal": "*", "Action": "iam:CreateUser", "Resource": "arn:aws:s3:::example-nix-cache"}`)), 1, "Action", []string{"statement 1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := e.svc.SetBucketPolicy(e.ctx, c.bucket, c.doc)
			if !errors.Is(err, access.ErrMalformedPolicy) {
				t.Fatalf("SetBucketPolicy = %v, want ErrMalformedPolicy", err)
			}
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("%v does not wrap a *policy.Error", err)
			}
			if pe.Statement != c.stmt || !strings.HasPrefix(pe.Field, c.field) {
				t.Errorf("policy.Error statement %d field %q, want %d %q...", pe.Statement, pe.Field, c.stmt, c.field)
			}
			for _, s := range c.inMsg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q does not name %s", err, s)
				}
			}
			if _, err := e.svc.BucketPolicy(e.ctx, c.bucket); !errors.Is(err, meta.ErrNoSuchBucketPolicy) {
				t.Errorf("a refused policy was stored: %v", err)
			}
		})
	}

	// The same document, renamed for the bucket, is fine; so are wildcards
	// that may match it.
	renamed := bytes.ReplaceAll(anon, []byte(cacheBucket), []byte(otherBucket))
	for bucket, d := range map[string][]byte{
		otherBucket: renamed,
		cacheBucket: []byte(doc(`{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::example-nix-*"}`)),
	} {
		if err := e.svc.SetBucketPolicy(e.ctx, bucket, d); err != nil {
			t.Errorf("SetBucketPolicy(%s): %v", bucket, err)
		}
		got, err := e.svc.BucketPolicy(e.ctx, bucket)
		if err != nil || !bytes.Equal(got, d) {
			t.Errorf("BucketPolicy(%s) = %q, %v; want the document verbatim", bucket, got, err)
		}
	}
	if !e.allowed(request("GET", "/"), anonymous, "s3:GetObject", "arn:aws:s3:::"+otherBucket+"/x") {
		t.Error("the renamed seed policy does not allow anonymous reads")
	}
	if err := e.svc.DeleteBucketPolicy(e.ctx, otherBucket); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.BucketPolicy(e.ctx, otherBucket); !errors.Is(err, meta.ErrNoSuchBucketPolicy) {
		t.Errorf("BucketPolicy after delete = %v, want ErrNoSuchBucketPolicy", err)
	}
	if err := e.svc.SetBucketPolicy(e.ctx, "no-such-bucket", bytes.ReplaceAll(anon, []byte(cacheBucket), []byte("no-such-bucket"))); !errors.Is(err, meta.ErrNoSuchBucket) {
		t.Errorf("SetBucketPolicy(no-such-bucket) = %v, want ErrNoSuchBucket", err)
	}
	if _, err := e.svc.BucketPolicy(e.ctx, "no-such-bucket"); !errors.Is(err, meta.ErrNoSuchBucket) {
		t.Errorf("BucketPolicy(no-such-bucket) = %v, want ErrNoSuchBucket", err)
	}
}
