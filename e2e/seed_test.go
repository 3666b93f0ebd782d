package e2e

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestSeed reproduces the seed's three access set-ups (README, "Access: the
// seed's three set-ups") with the real aws CLI and curl, using the policy
// documents of shared/fixtures/policies unchanged, each on a server of its
// own; then tokens and keys over plain HTTP, and policy validation.
func TestSeed(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"anonymous-read", testSeedAnonymousRead},
		{"authenticated-read", testSeedAuthenticatedRead},
		{"authenticated-write", testSeedAuthenticatedWrite},
		{"tokens-and-keys", testSeedTokensAndKeys},
		{"malformed-policy", testSeedMalformedPolicy},
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

// testSeedAnonymousRead: the anonymous-read bucket policy lets anybody GET
// objects and the bucket's location, nothing else; a missing key is 403
// until s3:ListBucket is added, then 404.
func testSeedAnonymousRead(t *testing.T) {
	e := seedStart(t)
	const key, content = "seed/hello.txt", "hello, anonymous reader\n"
	obj := e.put(seedBucket, key, content)
	policy := seedPolicy(t, "seed-anonymous-read.bucket.json")
	e.admin("bucket", "policy", "set", seedBucket, policy)
	newFile := e.writeFile("new.txt", []byte("not welcome\n"))

	r := e.curl("GET", e.url(key, ""))
	seedWantCurl(t, "anonymous curl GET", r, 200, "")
	if r.Body != content {
		t.Errorf("anonymous curl GET: body %q, want %q", r.Body, content)
	}
	got := filepath.Join(e.dir, "got.txt")
	e.mustAWS("", "s3api", "get-object", "--no-sign-request", "--bucket", seedBucket, "--key", key, got)
	sameFile(t, obj, got)

	r = e.curl("GET", e.url("", "location"))
	var loc struct {
		XMLName xml.Name `xml:"LocationConstraint"`
		Value   string   `xml:",chardata"`
	}
	if err := xml.Unmarshal([]byte(r.Body), &loc); r.Status != 200 || err != nil || loc.Value != "" {
		t.Errorf("anonymous GET ?location: %s (%v), want 200 and an empty LocationConstraint (us-east-1)", r, err)
	}

	// Refused: listing, writing, and a missing key (no s3:ListBucket).
	for _, q := range []string{"", "list-type=2", "prefix=seed/"} {
		seedWantCurl(t, "anonymous listing ?"+q, e.curl("GET", e.url("", q)), 403, "AccessDenied")
	}
	writes := func(when string) {
		t.Helper()
		seedWantCurl(t, when+": anonymous curl PUT", e.curl("PUT", e.url("seed/new.txt", ""), "--data-binary", "@"+newFile), 403, "AccessDenied")
		seedWantAWSError(t, when+": put-object --no-sign-request",
			e.aws("", "s3api", "put-object", "--no-sign-request", "--bucket", seedBucket, "--key", "seed/new.txt", "--body", newFile), "AccessDenied")
	}
	writes("read-only policy")
	seedWantAWSError(t, "list-objects-v2 --no-sign-request",
		e.aws("", "s3api", "list-objects-v2", "--no-sign-request", "--bucket", seedBucket), "AccessDenied")
	seedWantCurl(t, "anonymous GET of a missing key", e.curl("GET", e.url("seed/missing", "")), 403, "AccessDenied")
	seedWantCurl(t, "anonymous HEAD of a missing key", e.curl("HEAD", e.url("seed/missing", "")), 403, "")
	seedWantAWSError(t, "get-object --no-sign-request of a missing key",
		e.aws("", "s3api", "get-object", "--no-sign-request", "--bucket", seedBucket, "--key", "seed/missing", got), "AccessDenied")

	// The same policy with s3:ListBucket added.
	e.admin("bucket", "policy", "set", seedBucket, e.withAction(policy, "s3:ListBucket"))
	seedWantCurl(t, "with ListBucket: anonymous GET of a missing key", e.curl("GET", e.url("seed/missing", "")), 404, "NoSuchKey")
	seedWantCurl(t, "with ListBucket: anonymous HEAD of a missing key", e.curl("HEAD", e.url("seed/missing", "")), 404, "")
	seedWantAWSError(t, "with ListBucket: get-object --no-sign-request of a missing key",
		e.aws("", "s3api", "get-object", "--no-sign-request", "--bucket", seedBucket, "--key", "seed/missing", got), "NoSuchKey")
	r = e.curl("GET", e.url("", "list-type=2"))
	if r.Status != 200 || !strings.Contains(r.Body, "<Key>"+key+"</Key>") {
		t.Errorf("with ListBucket: anonymous listing: %s, want 200 listing %s", r, key)
	}
	ls := parseAWSLs(e.mustAWS("", "s3", "ls", "--no-sign-request", "--recursive", "s3://"+seedBucket+"/"))
	if want := map[string]string{key: strconv.Itoa(len(content))}; !reflect.DeepEqual(ls, want) {
		t.Errorf("with ListBucket: s3 ls --no-sign-request: %v, want %v", ls, want)
	}
	writes("with ListBucket")
	if r := e.aws("nixbucket", "s3api", "head-object", "--bucket", seedBucket, "--key", "seed/new.txt"); r.Err == nil || !strings.Contains(r.Stderr, "404") {
		t.Errorf("an anonymous PUT was refused, yet head-object seed/new.txt: err %v, stderr %q, want a 404", r.Err, r.Stderr)
	}
}

// testSeedAuthenticatedRead: the principal-restricted bucket policy lets
// cache-reader (a user with no IAM policy) read, and nobody else.
func testSeedAuthenticatedRead(t *testing.T) {
	e := seedStart(t)
	const key, content = "seed/hello.txt", "hello, cache-reader\n"
	e.put(seedBucket, key, content)
	e.createUser("cache-reader", "")
	e.createUser("cache-other", "")
	e.admin("bucket", "policy", "set", seedBucket, seedPolicy(t, "seed-authenticated-read.bucket.json"))
	src := "s3://" + seedBucket + "/" + key
	got := filepath.Join(e.dir, "got.txt")

	if out := e.mustAWS("cache-reader", "s3", "cp", src, "-"); out != content {
		t.Errorf("cache-reader: s3 cp %s -: %q, want %q", src, out, content)
	}
	e.mustAWS("cache-reader", "s3api", "get-bucket-location", "--bucket", seedBucket)
	// No s3:ListBucket: a missing key is AccessDenied; no s3:PutObject.
	seedWantAWSError(t, "cache-reader: get-object of a missing key",
		e.aws("cache-reader", "s3api", "get-object", "--bucket", seedBucket, "--key", "seed/missing", got), "AccessDenied")
	seedWantAWSError(t, "cache-reader: put-object",
		e.aws("cache-reader", "s3api", "put-object", "--bucket", seedBucket, "--key", "seed/new.txt"), "AccessDenied")

	// s3 cp starts with a HeadObject, whose 403 has no body.
	seedWantAWSError(t, "cache-other: s3 cp", e.aws("cache-other", "s3", "cp", src, "-"), "403")
	seedWantAWSError(t, "cache-other: get-object",
		e.aws("cache-other", "s3api", "get-object", "--bucket", seedBucket, "--key", key, got), "AccessDenied")

	if r := e.curl("GET", e.url(key, "")); r.Status != 401 && r.Status != 403 {
		t.Errorf("anonymous curl GET: %s, want 401 or 403", r)
	}
	seedWantAWSError(t, "get-object --no-sign-request",
		e.aws("", "s3api", "get-object", "--no-sign-request", "--bucket", seedBucket, "--key", key, got), "AccessDenied")
}

// testSeedAuthenticatedWrite: cache-upload, holding the upload IAM policy,
// may put, list and run or abort multipart uploads in the seed bucket, and
// nothing else.
func testSeedAuthenticatedWrite(t *testing.T) {
	e := seedStart(t)
	const other = "other-bucket"
	e.mustAWS("nixbucket", "s3", "mb", "s3://"+other)
	e.put(other, "x.txt", "root's object\n")
	e.createUser("cache-upload", seedPolicy(t, "seed-upload.iam.json"))
	up := func(args ...string) string {
		t.Helper()
		return e.mustAWS("cache-upload", args...)
	}

	const narinfo = "StorePath: /nix/store/00000000000000000000000000000000-abc\n"
	small := e.writeFile("abc.narinfo", []byte(narinfo))
	up("s3", "cp", "--no-progress", small, "s3://"+seedBucket+"/abc.narinfo")
	big := filepath.Join(e.dir, "big.nar")
	const bigSize = 20 << 20
	writeRandomFile(t, big, bigSize, 33)
	up("s3", "cp", "--no-progress", big, "s3://"+seedBucket+"/nar/big.nar")
	var head awsHead
	if out := e.mustAWS("nixbucket", "s3api", "head-object", "--bucket", seedBucket, "--key", "nar/big.nar"); json.Unmarshal([]byte(out), &head) != nil {
		t.Fatalf("head-object output: %s", out)
	}
	// The CLI splits at 8 MiB: 20 MiB is 3 parts.
	if want := `"` + multipartETag(t, big, 8<<20) + `"`; head.ContentLength != bigSize || head.ETag != want {
		t.Errorf("nar/big.nar: ContentLength %d ETag %s, want %d %s (a multipart upload)", head.ContentLength, head.ETag, bigSize, want)
	}
	back := filepath.Join(e.dir, "back.nar")
	up("s3", "cp", "--no-progress", "s3://"+seedBucket+"/nar/big.nar", back)
	sameFile(t, big, back)

	ls := parseAWSLs(up("s3", "ls", "--recursive", "s3://"+seedBucket+"/"))
	if want := map[string]string{"abc.narinfo": strconv.Itoa(len(narinfo)), "nar/big.nar": strconv.Itoa(bigSize)}; !reflect.DeepEqual(ls, want) {
		t.Errorf("s3 ls --recursive: %v, want %v", ls, want)
	}

	var created struct{ UploadId string }
	out := up("s3api", "create-multipart-upload", "--bucket", seedBucket, "--key", "nar/abandoned.nar")
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.UploadId == "" {
		t.Fatalf("create-multipart-upload: %v\n%s", err, out)
	}
	part := e.writeFile("part", []byte("part one\n"))
	up("s3api", "upload-part", "--bucket", seedBucket, "--key", "nar/abandoned.nar", "--upload-id", created.UploadId, "--part-number", "1", "--body", part)
	up("s3api", "list-parts", "--bucket", seedBucket, "--key", "nar/abandoned.nar", "--upload-id", created.UploadId)
	if out := up("s3api", "list-multipart-uploads", "--bucket", seedBucket); !strings.Contains(out, created.UploadId) {
		t.Errorf("list-multipart-uploads does not list %s:\n%s", created.UploadId, out)
	}
	up("s3api", "abort-multipart-upload", "--bucket", seedBucket, "--key", "nar/abandoned.nar", "--upload-id", created.UploadId)
	if out := up("s3api", "list-multipart-uploads", "--bucket", seedBucket); strings.Contains(out, created.UploadId) {
		t.Errorf("list-multipart-uploads still lists %s after abort:\n%s", created.UploadId, out)
	}

	anyPolicy := "file://" + seedPolicy(t, "seed-anonymous-read.bucket.json")
	got := filepath.Join(e.dir, "got")
	for _, c := range []struct {
		name string
		args []string
	}{
		{"DeleteObject", []string{"s3api", "delete-object", "--bucket", seedBucket, "--key", "abc.narinfo"}},
		{"s3 rm --recursive", []string{"s3", "rm", "--recursive", "s3://" + seedBucket + "/"}},
		{"PutBucketPolicy", []string{"s3api", "put-bucket-policy", "--bucket", seedBucket, "--policy", anyPolicy}},
		{"CreateBucket", []string{"s3api", "create-bucket", "--bucket", "cache-upload-new"}},
		{"DeleteBucket", []string{"s3api", "delete-bucket", "--bucket", seedBucket}},
		{"other/GetObject", []string{"s3api", "get-object", "--bucket", other, "--key", "x.txt", got}},
		{"other/PutObject", []string{"s3api", "put-object", "--bucket", other, "--key", "y.txt", "--body", small}},
		{"other/ListObjectsV2", []string{"s3api", "list-objects-v2", "--bucket", other}},
		{"other/GetBucketLocation", []string{"s3api", "get-bucket-location", "--bucket", other}},
		{"other/CreateMultipartUpload", []string{"s3api", "create-multipart-upload", "--bucket", other, "--key", "y.nar"}},
		{"other/ListMultipartUploads", []string{"s3api", "list-multipart-uploads", "--bucket", other}},
		{"other/DeleteObject", []string{"s3api", "delete-object", "--bucket", other, "--key", "x.txt"}},
		{"other/PutBucketPolicy", []string{"s3api", "put-bucket-policy", "--bucket", other, "--policy", anyPolicy}},
	} {
		r := e.aws("cache-upload", c.args...)
		seedWantAWSError(t, "cache-upload: "+c.name, r, "AccessDenied")
	}
	ls = parseAWSLs(e.mustAWS("nixbucket", "s3", "ls", "--recursive", "s3://"+seedBucket+"/"))
	if len(ls) != 2 {
		t.Errorf("after the refused deletes, %s holds %v, want abc.narinfo and nar/big.nar", seedBucket, ls)
	}
	if out := e.mustAWS("nixbucket", "s3", "ls"); hasField(out, "cache-upload-new") || !hasField(out, other) {
		t.Errorf("buckets after the refused CreateBucket:\n%s", out)
	}
	if r := e.aws("nixbucket", "s3api", "get-bucket-policy", "--bucket", seedBucket); !strings.Contains(r.Stderr, "(NoSuchBucketPolicy)") {
		t.Errorf("get-bucket-policy after the refused PutBucketPolicy: err %v, stdout %q, stderr %q, want NoSuchBucketPolicy", r.Err, r.Stdout, r.Stderr)
	}
}

// testSeedTokensAndKeys: a token or an access key over plain HTTP (Bearer,
// Basic) acts as its user; revoking the token or disabling the key takes
// effect on the very next request; a token's own policy narrows it.
func testSeedTokensAndKeys(t *testing.T) {
	e := seedStart(t)
	const key, content = "seed/hello.txt", "hello, token holder\n"
	const allowedKey, allowedContent = "allowed/ok.txt", "inside the token's prefix\n"
	e.put(seedBucket, key, content)
	e.put(seedBucket, allowedKey, allowedContent)
	reader := e.createUser("cache-reader", "")
	e.createUser("stranger", "")
	e.admin("bucket", "policy", "set", seedBucket, seedPolicy(t, "seed-authenticated-read.bucket.json"))
	narrow := e.writeFile("narrow.json", []byte(`{
  "Version": "2012-10-17",
  "Statement": [{
    "Effect": "Allow",
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::`+seedBucket+`/allowed/*"
  }]
}`))
	tokID, tok := e.createToken("cache-reader")
	_, narrowTok := e.createToken("cache-reader", "--policy", narrow)
	_, strangerTok := e.createToken("stranger")
	if !strings.HasPrefix(tok, "nbt_") || tok == narrowTok {
		t.Errorf("token create: %q and %q, want two distinct nbt_… secrets", tok, narrowTok)
	}

	type check struct {
		name   string
		key    string
		auth   []string // curl arguments
		status int
		code   string
		body   string
	}
	bearer := func(tok string) []string { return []string{"-H", "Authorization: Bearer " + tok} }
	run := func(checks []check) {
		t.Helper()
		for _, c := range checks {
			r := e.curl("GET", e.url(c.key, ""), c.auth...)
			seedWantCurl(t, c.name, r, c.status, c.code)
			if c.body != "" && r.Body != c.body {
				t.Errorf("%s: body %q, want %q", c.name, r.Body, c.body)
			}
		}
	}
	run([]check{
		{"Bearer token", key, bearer(tok), 200, "", content},
		{"Basic user:token", key, []string{"-u", "cache-reader:" + tok}, 200, "", content},
		{"Basic key:secret", key, []string{"-u", reader.ID + ":" + reader.Secret}, 200, "", content},
		{"Basic key:wrong secret", key, []string{"-u", reader.ID + ":" + reader.Secret + "x"}, 403, "AccessDenied", ""},
		{"Basic other login with the token", key, []string{"-u", "stranger:" + tok}, 403, "AccessDenied", ""},
		{"Bearer token of a user the policy does not name", key, bearer(strangerTok), 403, "AccessDenied", ""},
		{"Bearer unknown token", key, bearer("nbt_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"), 403, "AccessDenied", ""},
		{"narrowed token inside its prefix", allowedKey, bearer(narrowTok), 200, "", allowedContent},
		{"narrowed token outside its prefix", key, bearer(narrowTok), 403, "AccessDenied", ""},
		{"narrowed token as Basic outside its prefix", key, []string{"-u", "cache-reader:" + narrowTok}, 403, "AccessDenied", ""},
	})

	e.admin("token", "revoke", tokID)
	run([]check{
		{"revoked Bearer token", key, bearer(tok), 403, "AccessDenied", ""},
		{"revoked token as Basic", key, []string{"-u", "cache-reader:" + tok}, 403, "AccessDenied", ""},
		{"another token of the user after the revocation", allowedKey, bearer(narrowTok), 200, "", allowedContent},
		{"the user's key after the revocation", key, []string{"-u", reader.ID + ":" + reader.Secret}, 200, "", content},
	})

	src := "s3://" + seedBucket + "/" + key
	if out := e.mustAWS("cache-reader", "s3", "cp", src, "-"); out != content {
		t.Errorf("cache-reader before key disable: %q, want %q", out, content)
	}
	e.admin("user", "key", "disable", reader.ID)
	got := filepath.Join(e.dir, "got")
	seedWantAWSError(t, "signed request with a disabled key",
		e.aws("cache-reader", "s3api", "get-object", "--bucket", seedBucket, "--key", key, got), "SignatureDoesNotMatch")
	run([]check{
		{"disabled key as Basic", key, []string{"-u", reader.ID + ":" + reader.Secret}, 403, "AccessDenied", ""},
		{"a token of the user whose key is disabled", allowedKey, bearer(narrowTok), 200, "", allowedContent},
	})
}

// testSeedMalformedPolicy: PutBucketPolicy validates the document and
// answers 400 MalformedPolicy naming the statement and the field, leaving
// the bucket's policy as it was.
func testSeedMalformedPolicy(t *testing.T) {
	e := seedStart(t)
	good := seedPolicy(t, "seed-anonymous-read.bucket.json")
	e.mustAWS("nixbucket", "s3api", "put-bucket-policy", "--bucket", seedBucket, "--policy", "file://"+good)
	policyQuery := "policy"
	if !curlBareQueryKeys(t) {
		policyQuery = "policy="
	}
	const okStmt = `{"Sid": "Read", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::example-nix-cache/*"}`
	cases := []struct {
		name, doc, want string // want: the message's start
	}{
		{"bad Effect", `{"Version": "2012-10-17", "Statement": [` + okStmt + `,
			{"Sid": "Broken", "Effect": "Allowed", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::example-nix-cache/*"}]}`,
			`statement 2 ("Broken"): Effect: `},
		{"no Principal", `{"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::example-nix-cache/*"}}`,
			`statement 1: Principal: `},
		{"bad Resource", `{"Statement": [` + okStmt + `, ` + okStmt + `,
			{"Sid": "Elsewhere", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::another-bucket/*"}]}`,
			`statement 3 ("Elsewhere"): Resource: `},
		{"unknown element", `{"Statement": [{"Sid": "Typo", "Effect": "Allow", "Principal": "*", "Actions": "s3:GetObject", "Resource": "*"}]}`,
			`statement 1 ("Typo"): Actions: `},
	}
	for i, c := range cases {
		f := e.writeFile(fmt.Sprintf("bad%d.json", i), []byte(c.doc))
		r := e.aws("nixbucket", "s3api", "put-bucket-policy", "--bucket", seedBucket, "--policy", "file://"+f)
		seedWantAWSError(t, "aws put-bucket-policy, "+c.name, r, "MalformedPolicy")
		if !strings.Contains(r.Stderr, "(MalformedPolicy) when calling the PutBucketPolicy operation: "+c.want) {
			t.Errorf("aws put-bucket-policy, %s: stderr %q, want the message to start with %q", c.name, r.Stderr, c.want)
		}
		resp := curlS3(t, e.s, "PUT", e.url("", policyQuery), "--data-binary", "@"+f)
		var doc struct{ Code, Message string }
		if err := xml.Unmarshal([]byte(resp.Body), &doc); resp.Status != 400 || err != nil || doc.Code != "MalformedPolicy" || !strings.HasPrefix(doc.Message, c.want) {
			t.Errorf("PUT ?policy, %s: %d %s, want 400 MalformedPolicy with a message starting %q", c.name, resp.Status, strings.TrimSpace(resp.Body), c.want)
		}
	}

	var stored struct{ Policy string }
	out := e.mustAWS("nixbucket", "s3api", "get-bucket-policy", "--bucket", seedBucket)
	if err := json.Unmarshal([]byte(out), &stored); err != nil {
		t.Fatalf("get-bucket-policy: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if json.Unmarshal(raw, &want) != nil || json.Unmarshal([]byte(stored.Policy), &got) != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("the bucket policy after the refused documents:\n%s\nwant %s", stored.Policy, raw)
	}
}
