package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnknownPolicyActionRefused: a policy naming an action S3 does not
// have (a typo such as s3:GetObjekt, or a wildcard matching nothing) is
// refused with MalformedPolicy naming it, by PutBucketPolicy and by the
// admin CLI for bucket, user and token policies, while the shared fixtures
// and real wildcards are accepted verbatim.
func TestUnknownPolicyActionRefused(t *testing.T) {
	e := seedStart(t)
	write := func(name, doc string) string {
		p := filepath.Join(e.dir, name)
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bucketDoc := func(action string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"` + action +
			`","Resource":"arn:aws:s3:::` + seedBucket + `/*"}]}`
	}
	identityDoc := func(action string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","` + action +
			`"],"Resource":"*"}]}`
	}
	cli := func(args ...string) cmdResult {
		t.Helper()
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "NIXBUCKET_DATA=") {
				env = append(env, kv)
			}
		}
		return runCmd(t, env, e.dir, serverBin, append(args, "--data", e.s.Dir)...)
	}
	e.admin("user", "create", "holder")

	for _, action := range []string{"s3:GetObjekt", "s3:Frobnicate*"} {
		bp := write("bucket.json", bucketDoc(action))
		r := e.aws("nixbucket", "s3api", "put-bucket-policy", "--bucket", seedBucket, "--policy", "file://"+bp)
		if r.Err == nil || !strings.Contains(r.Stderr, "MalformedPolicy") || !strings.Contains(r.Stderr, action) {
			t.Errorf("put-bucket-policy with %s: %v\n%s", action, r.Err, r.Stderr)
		}
		if action == "s3:GetObjekt" && !strings.Contains(r.Stderr, `did you mean "s3:GetObject"?`) {
			t.Errorf("put-bucket-policy with %s does not name the action meant:\n%s", action, r.Stderr)
		}
		if r := cli("bucket", "policy", "set", seedBucket, bp); r.Err == nil || !strings.Contains(r.Stderr, action) {
			t.Errorf("bucket policy set with %s: %v\n%s", action, r.Err, r.Stderr)
		}
		ip := write("identity.json", identityDoc(action))
		if r := cli("user", "create", "typo", "--policy", ip); r.Err == nil || !strings.Contains(r.Stderr, action) {
			t.Errorf("user create --policy with %s: %v\n%s", action, r.Err, r.Stderr)
		}
		if r := cli("token", "create", "--user", "holder", "--policy", ip); r.Err == nil || !strings.Contains(r.Stderr, action) {
			t.Errorf("token create --policy with %s: %v\n%s", action, r.Err, r.Stderr)
		}
	}

	// Fixtures verbatim, and wildcards that match real actions.
	e.admin("bucket", "policy", "set", seedBucket, seedPolicy(t, "seed-anonymous-read.bucket.json"))
	e.mustAWS("nixbucket", "s3api", "put-bucket-policy", "--bucket", seedBucket, "--policy", "file://"+seedPolicy(t, "seed-authenticated-read.bucket.json"))
	e.admin("user", "create", "uploader", "--policy", seedPolicy(t, "seed-upload.iam.json"))
	for _, action := range []string{"s3:Get*", "s3:*", "*", "S3:getobject", "s3:List?ucket"} {
		e.mustAWS("nixbucket", "s3api", "put-bucket-policy", "--bucket", seedBucket, "--policy", "file://"+write("ok.json", bucketDoc(action)))
	}
}
