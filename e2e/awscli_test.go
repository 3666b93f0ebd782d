package e2e

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// awsHead is the part of `aws s3api head-object` output the tests check.
type awsHead struct {
	ContentLength int64
	ETag          string
	ContentType   string
	Metadata      map[string]string
}

// testAWSCLI drives the server with the aws CLI (v1, in the image's Python):
// a 50 MiB multipart cp both ways, ls, head-object, presign in SigV2 and
// SigV4 fetched with curl, rm and rb.
func testAWSCLI(t *testing.T, s *Server) {
	env := s.clientEnv()
	dir := t.TempDir()
	awsArgs := func(profile string, args []string) []string {
		return append([]string{"--endpoint-url", s.Endpoint, "--profile", profile}, args...)
	}
	aws := func(args ...string) string {
		t.Helper()
		return mustRun(t, env, dir, "aws", awsArgs("nixbucket", args)...)
	}
	const bucket = "awscli-e2e"
	const bigKey, smallKey = "dir/big.bin", "small.txt"

	aws("s3", "mb", "s3://"+bucket)
	if out := aws("s3", "ls"); !hasField(out, bucket) {
		t.Fatalf("s3 ls does not list bucket %s:\n%s", bucket, out)
	}

	big := filepath.Join(dir, "big.bin")
	const bigSize = 50 << 20
	writeRandomFile(t, big, bigSize, 1)
	aws("s3", "cp", "--no-progress", big, "s3://"+bucket+"/"+bigKey)
	small := filepath.Join(dir, "small.txt")
	if err := os.WriteFile(small, []byte("hello from the aws CLI\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	aws("s3", "cp", "--no-progress", small, "s3://"+bucket+"/"+smallKey,
		"--content-type", "text/x-nix-narinfo", "--metadata", "origin=e2e")

	// awscli splits at 8 MiB by default: 50 MiB is 7 parts.
	var head awsHead
	headJSON := aws("s3api", "head-object", "--bucket", bucket, "--key", bigKey)
	if err := json.Unmarshal([]byte(headJSON), &head); err != nil {
		t.Fatalf("head-object output: %v\n%s", err, headJSON)
	}
	if want := `"` + multipartETag(t, big, 8<<20) + `"`; head.ContentLength != bigSize || head.ETag != want {
		t.Errorf("head-object %s: ContentLength %d ETag %s, want %d %s", bigKey, head.ContentLength, head.ETag, bigSize, want)
	}
	head = awsHead{}
	headJSON = aws("s3api", "head-object", "--bucket", bucket, "--key", smallKey)
	if err := json.Unmarshal([]byte(headJSON), &head); err != nil {
		t.Fatalf("head-object output: %v\n%s", err, headJSON)
	}
	if want := `"` + fileMD5(t, small) + `"`; head.ETag != want || head.ContentType != "text/x-nix-narinfo" || head.Metadata["origin"] != "e2e" {
		t.Errorf("head-object %s: ETag %s ContentType %q Metadata %v, want %s text/x-nix-narinfo map[origin:e2e]", smallKey, head.ETag, head.ContentType, head.Metadata, want)
	}

	// ls: recursive shows both keys with sizes; top level shows the prefix.
	got := parseAWSLs(aws("s3", "ls", "--recursive", "s3://"+bucket+"/"))
	if got[bigKey] != strconv.Itoa(bigSize) || got[smallKey] != "23" || len(got) != 2 {
		t.Errorf("s3 ls --recursive: got %v, want %s=%d %s=23", got, bigKey, bigSize, smallKey)
	}
	got = parseAWSLs(aws("s3", "ls", "s3://"+bucket+"/"))
	if got["dir/"] != "PRE" || got[smallKey] != "23" || len(got) != 2 {
		t.Errorf("s3 ls: got %v, want PRE dir/ and %s=23", got, smallKey)
	}

	back := filepath.Join(dir, "back.bin")
	aws("s3", "cp", "--no-progress", "s3://"+bucket+"/"+bigKey, back)
	sameFile(t, big, back)

	testAWSPresign(t, s, env, dir, bucket, bigKey, big)

	aws("s3", "rm", "s3://"+bucket+"/"+bigKey)
	aws("s3", "rm", "s3://"+bucket+"/"+smallKey)
	if got := parseAWSLs(aws("s3", "ls", "--recursive", "s3://"+bucket+"/")); len(got) != 0 {
		t.Errorf("s3 ls after rm: %v, want nothing", got)
	}
	r := runCmd(t, env, dir, "aws", awsArgs("nixbucket", []string{"s3api", "head-object", "--bucket", bucket, "--key", bigKey})...)
	if r.Err == nil || !strings.Contains(r.Stderr, "404") {
		t.Errorf("head-object after rm: err %v, stderr %q, want a 404", r.Err, r.Stderr)
	}
	aws("s3", "rb", "s3://"+bucket)
	if out := aws("s3", "ls"); hasField(out, bucket) {
		t.Errorf("s3 ls still lists %s after rb:\n%s", bucket, out)
	}
}

// testAWSPresign presigns key in every signature flavour the CLI has,
// fetches each URL with curl and compares the bytes with want; tampered and
// expired URLs must be refused with S3's codes.
func testAWSPresign(t *testing.T, s *Server, env []string, dir, bucket, key, want string) {
	variants := []struct {
		name    string
		profile string
		extra   []string
		sig     string // a query parameter only this flavour has
		quirk   string
	}{
		{"v2", "nixbucket", nil, "AWSAccessKeyId", quirkNoSigV2},
		{"v4", "nixbucket-v4", nil, "X-Amz-Signature", ""},
		{"v4-eu-west-2", "nixbucket", []string{"--region", "eu-west-2"}, "X-Amz-Signature", quirkStrictRegion},
	}
	for _, v := range variants {
		t.Run("presign-"+v.name, func(t *testing.T) {
			presign := func(expires string) string {
				args := append([]string{"--endpoint-url", s.Endpoint, "--profile", v.profile}, v.extra...)
				args = append(args, "s3", "presign", "s3://"+bucket+"/"+key, "--expires-in", expires)
				return strings.TrimSpace(mustRun(t, env, dir, "aws", args...))
			}
			raw := presign("300")
			u, err := url.Parse(raw)
			if err != nil || u.Query().Get(v.sig) == "" || !strings.HasPrefix(raw, s.Endpoint+"/") {
				t.Fatalf("presigned URL %q: want %s/… with %s (%v)", raw, s.Endpoint, v.sig, err)
			}
			if v.quirk != "" && s.hasQuirk(v.quirk) {
				t.Skipf("%s: not checked", versitygwQuirks[v.quirk])
			}
			out := filepath.Join(dir, "presigned-"+v.name)
			if code, body := curlGet(t, env, raw, out); code != 200 {
				t.Fatalf("GET presigned %s: status %d %s", v.name, code, body)
			}
			sameFile(t, want, out)

			sigKey := "Signature"
			if v.sig == "X-Amz-Signature" {
				sigKey = v.sig
			}
			q := u.Query()
			sig := q.Get(sigKey)
			flipped := "0" + sig[1:] // same length, still valid hex or base64
			if sig[0] == '0' {
				flipped = "1" + sig[1:]
			}
			q.Set(sigKey, flipped)
			bad := *u
			bad.RawQuery = q.Encode()
			code, body := curlGet(t, env, bad.String(), out)
			wantS3Error(t, "tampered presigned URL", code, body, 403, "SignatureDoesNotMatch")

			expiring := presign("1")
			time.Sleep(2100 * time.Millisecond)
			code, body = curlGet(t, env, expiring, out)
			wantS3Error(t, "expired presigned URL", code, body, 403, "AccessDenied")
		})
	}
}

// parseAWSLs parses `aws s3 ls` output into key → size, or "PRE" for a
// common prefix.
func parseAWSLs(out string) map[string]string {
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "PRE":
			got[f[1]] = "PRE"
		case len(f) >= 4:
			got[strings.Join(f[3:], " ")] = f[2]
		}
	}
	return got
}

// hasField reports whether any line of out has word as a whitespace
// separated field.
func hasField(out, word string) bool {
	for _, line := range strings.Split(out, "\n") {
		for _, f := range strings.Fields(line) {
			if f == word {
				return true
			}
		}
	}
	return false
}
