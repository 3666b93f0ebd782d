package e2e

import (
	"net/http"
	"testing"
)

// TestListPrefixConditionOnlyBoundsListing: a user whose policy lets them
// list a bucket only under a prefix (s3:ListBucket with an s3:prefix
// condition, AWS's documented way to give each user a "home folder") may
// list that prefix with the aws CLI, and nothing else that needs
// s3:ListBucket: a "?prefix=dir/" added to HeadBucket or to the pin API
// once satisfied the condition and opened them.
func TestListPrefixConditionOnlyBoundsListing(t *testing.T) {
	e := seedStart(t)
	e.put(seedBucket, "dir/a.txt", "a")
	e.put(seedBucket, "secret.txt", "s")
	pol := e.writeFile("home.json", []byte(`{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::`+seedBucket+`",
	   "Condition":{"StringEquals":{"s3:prefix":"dir/"}}},
	  {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::`+seedBucket+`/dir/*"}]}`))
	k := e.createUser("homed", pol)

	out := e.mustAWS("homed", "s3api", "list-objects-v2", "--bucket", seedBucket, "--prefix", "dir/", "--query", "Contents[].Key", "--output", "text")
	if out != "dir/a.txt\n" {
		t.Errorf("list-objects-v2 --prefix dir/: %q, want dir/a.txt", out)
	}
	seedWantAWSError(t, "list-objects-v2 without the prefix", e.aws("homed", "s3api", "list-objects-v2", "--bucket", seedBucket), "AccessDenied")
	seedWantAWSError(t, "head-bucket", e.aws("homed", "s3api", "head-bucket", "--bucket", seedBucket), "403")

	sigv4 := []string{"--aws-sigv4", "aws:amz:us-east-1:s3", "--user", k.ID + ":" + k.Secret, "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"}
	r := e.curl(http.MethodHead, e.s.Endpoint+"/"+seedBucket+"?prefix=dir%2F", sigv4...)
	seedWantCurl(t, "HeadBucket with ?prefix=dir/", r, http.StatusForbidden, "")
	r = e.curl(http.MethodGet, e.s.Endpoint+"/-/api/buckets/"+seedBucket+"/pins?prefix=dir%2F", sigv4...)
	seedWantCurl(t, "the pin API with ?prefix=dir/", r, http.StatusForbidden, "")
	r = e.curl(http.MethodGet, e.s.Endpoint+"/"+seedBucket+"?list-type=2&prefix=dir%2F", sigv4...)
	seedWantCurl(t, "ListObjectsV2 with ?prefix=dir/ (curl)", r, http.StatusOK, "")
}

// TestListVersionsPrefixCondition: ListObjectVersions lists keys as
// ListObjects does, and AWS gives s3:ListBucketVersions the same
// s3:prefix, s3:delimiter and s3:max-keys condition keys. A Deny of the
// versions listing under a prefix must hold (it once did not: the keys
// under secret/ were listed to whoever asked for that prefix), and an
// Allow bounded to a prefix must open that prefix and no other.
func TestListVersionsPrefixCondition(t *testing.T) {
	e := seedStart(t)
	e.put(seedBucket, "dir/a.txt", "a")
	e.put(seedBucket, "secret/b.txt", "s")
	arn := "arn:aws:s3:::" + seedBucket
	e.createUser("denied", e.writeFile("deny.json", []byte(`{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":"s3:ListBucketVersions","Resource":"`+arn+`"},
	  {"Effect":"Deny","Action":"s3:ListBucketVersions","Resource":"`+arn+`",
	   "Condition":{"StringLike":{"s3:prefix":"secret/*"}}}]}`)))
	seedWantAWSError(t, "list-object-versions --prefix secret/ under a Deny of that prefix",
		e.aws("denied", "s3api", "list-object-versions", "--bucket", seedBucket, "--prefix", "secret/"), "AccessDenied")

	e.createUser("homed", e.writeFile("home.json", []byte(`{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":"s3:ListBucketVersions","Resource":"`+arn+`",
	   "Condition":{"StringEquals":{"s3:prefix":"dir/"}}}]}`)))
	r := e.aws("homed", "s3api", "list-object-versions", "--bucket", seedBucket, "--prefix", "dir/", "--query", "Versions[].Key", "--output", "text")
	if r.Err != nil || r.Stdout != "dir/a.txt\n" {
		t.Errorf("list-object-versions --prefix dir/ allowed for dir/: %q, %v %s; want dir/a.txt", r.Stdout, r.Err, tail(r.Stderr, 500))
	}
	seedWantAWSError(t, "list-object-versions without the prefix", e.aws("homed", "s3api", "list-object-versions", "--bucket", seedBucket), "AccessDenied")
}
