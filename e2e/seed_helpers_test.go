package e2e

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// seedBucket is the bucket the seed's policy documents name.
const seedBucket = "example-nix-cache"

// seedEnv is one nixbucket server set up for a seed scenario, with the aws
// CLI and curl at hand and the admin commands run against its data
// directory while it serves.
type seedEnv struct {
	t   *testing.T
	s   *Server
	env []string // the client environment (aws CLI, curl)
	dir string   // scratch files
}

// seedStart starts a fresh nixbucket and creates the seed's bucket with the
// admin (root) credentials. The scenarios drive nixbucket's own admin
// commands, so another target is skipped; a missing aws or curl skips (or
// fails under CI).
func seedStart(t *testing.T) *seedEnv {
	t.Helper()
	need(t, "aws")
	need(t, "curl")
	if v := os.Getenv("NIXBUCKET_E2E_TARGET"); v != "" && v != targetNixbucket {
		t.Skipf("the seed scenarios use nixbucket's admin commands; target is %s", v)
	}
	setupTarget(t)
	s := startServer(t)
	// The credentials sections printed by `user create` name no region;
	// the CLI gets it from the environment, as it would from ~/.aws/config.
	e := &seedEnv{t: t, s: s, env: s.clientEnv("AWS_DEFAULT_REGION=" + s.Region), dir: t.TempDir()}
	e.mustAWS("nixbucket", "s3", "mb", "s3://"+seedBucket)
	return e
}

// seedPolicy returns the path of one of the shared policy fixtures, used
// unchanged.
func seedPolicy(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(sharedDir(t), "fixtures", "policies", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("policy fixture: %v", err)
	}
	return p
}

// admin runs `nixbucket ARGS --data DIR` against the running server's data
// directory and returns its stdout and stderr; it fails the test on a
// non-zero exit.
func (e *seedEnv) admin(args ...string) (stdout, stderr string) {
	e.t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NIXBUCKET_DATA=") {
			env = append(env, kv)
		}
	}
	r := runCmd(e.t, env, e.dir, serverBin, append(args, "--data", e.s.Dir)...)
	if r.Err != nil {
		e.t.Fatalf("nixbucket %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Err, r.Stdout, r.Stderr)
	}
	return r.Stdout, r.Stderr
}

// seedKey is an access key pair printed by `nixbucket user create`.
type seedKey struct{ ID, Secret string }

// createUser runs `nixbucket user create NAME [--policy FILE]`, appends the
// credentials section it prints to the clients' credentials file, as the
// README says, and returns the key pair, read back from that file.
func (e *seedEnv) createUser(name, policyFile string) seedKey {
	e.t.Helper()
	args := []string{"user", "create", name}
	if policyFile != "" {
		args = append(args, "--policy", policyFile)
	}
	out, _ := e.admin(args...)
	if !strings.HasPrefix(out, "["+name+"]\n") {
		e.t.Fatalf("user create %s: stdout is not a credentials section [%s]:\n%s", name, name, out)
	}
	f, err := os.OpenFile(e.s.AWSCredentials, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	_, err = f.WriteString("\n" + out)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		e.t.Fatal(err)
	}
	prof, err := parseINI(e.s.AWSCredentials)
	if err != nil {
		e.t.Fatal(err)
	}
	k := seedKey{prof[name]["aws_access_key_id"], prof[name]["aws_secret_access_key"]}
	if k.ID == "" || k.Secret == "" {
		e.t.Fatalf("user create %s: no aws_access_key_id/aws_secret_access_key in\n%s", name, out)
	}
	return k
}

var seedTokenID = regexp.MustCompile(`(?m)^token (\S+) for `)

// createToken runs `nixbucket token create --user USER [ARGS]` and returns
// the token's id (from the notice on stderr) and its secret text (stdout).
func (e *seedEnv) createToken(user string, args ...string) (id, secret string) {
	e.t.Helper()
	out, notice := e.admin(append([]string{"token", "create", "--user", user}, args...)...)
	m := seedTokenID.FindStringSubmatch(notice)
	secret = strings.TrimSpace(out)
	if m == nil || secret == "" || strings.ContainsAny(secret, " \n") {
		e.t.Fatalf("token create: want the secret alone on stdout and \"token ID for %s\" on stderr; got stdout %q stderr %q", user, out, notice)
	}
	return m[1], secret
}

// awsArgs prefixes the endpoint and, unless profile is empty, the profile.
func (e *seedEnv) awsArgs(profile string, args []string) []string {
	pre := []string{"--endpoint-url", e.s.Endpoint}
	if profile != "" {
		pre = append(pre, "--profile", profile)
	}
	return append(pre, args...)
}

// aws runs the aws CLI with profile ("" for none) and returns the outcome.
func (e *seedEnv) aws(profile string, args ...string) cmdResult {
	e.t.Helper()
	return runCmd(e.t, e.env, e.dir, "aws", e.awsArgs(profile, args)...)
}

// mustAWS runs the aws CLI with profile and fails the test unless it
// succeeds; it returns stdout.
func (e *seedEnv) mustAWS(profile string, args ...string) string {
	e.t.Helper()
	return mustRun(e.t, e.env, e.dir, "aws", e.awsArgs(profile, args)...)
}

// seedWantAWSError fails the test unless the aws command failed with S3 error
// code (as the CLI prints it: "An error occurred (CODE) when calling …").
func seedWantAWSError(t *testing.T, what string, r cmdResult, code string) {
	t.Helper()
	if r.Err == nil || !strings.Contains(r.Stderr, "("+code+")") {
		t.Errorf("%s: err %v, want an error (%s)\nstdout: %s\nstderr: %s", what, r.Err, code, tail(r.Stdout, 2000), tail(r.Stderr, 2000))
	}
}

// seedResp is what one plain curl request got back.
type seedResp struct {
	Status int
	Header http.Header
	Body   string
}

// Code is the error code of an error answer: the S3 XML <Code>, or the
// X-Nixbucket-Error header of a plain-text one.
func (r seedResp) Code() string {
	var doc struct {
		XMLName xml.Name `xml:"Error"`
		Code    string
	}
	if xml.Unmarshal([]byte(r.Body), &doc) == nil {
		return doc.Code
	}
	return r.Header.Get("X-Nixbucket-Error")
}

func (r seedResp) String() string {
	return fmt.Sprintf("%d %s %s", r.Status, r.Code(), strings.TrimSpace(tail(r.Body, 500)))
}

// curl makes one unsigned request to the server with curl (anonymous, or
// with whatever -H/-u ARGS carry) and returns status, headers and body.
func (e *seedEnv) curl(method, url string, args ...string) seedResp {
	e.t.Helper()
	dir := e.t.TempDir()
	hdr, body := filepath.Join(dir, "headers"), filepath.Join(dir, "body")
	argv := []string{"-sS", "-X", method}
	if method == http.MethodHead {
		argv = []string{"-sS", "-I"}
	}
	argv = append(argv, "-D", hdr, "-o", body, "-w", "%{http_code}")
	argv = append(append(argv, args...), url)
	r := runCmd(e.t, e.env, dir, "curl", argv...)
	if r.Err != nil {
		e.t.Fatalf("curl %s %s: %v\n%s", method, url, r.Err, r.Stderr)
	}
	var resp seedResp
	if _, err := fmt.Sscan(r.Stdout, &resp.Status); err != nil {
		e.t.Fatalf("curl %s %s: status %q: %v", method, url, r.Stdout, err)
	}
	resp.Header = lastHeaderBlock(e.t, hdr)
	if b, err := os.ReadFile(body); err == nil {
		resp.Body = string(b)
	}
	return resp
}

// seedWantCurl fails the test unless r has status and, for an error, code.
func seedWantCurl(t *testing.T, what string, r seedResp, status int, code string) {
	t.Helper()
	if r.Status != status || code != "" && r.Code() != code {
		want := fmt.Sprint(status)
		if code != "" {
			want += " " + code
		}
		t.Errorf("%s: got %s, want %s", what, r, want)
	}
}

// url returns the server's URL of KEY in the seed bucket ("" for the
// bucket itself) with an optional query.
func (e *seedEnv) url(key, query string) string {
	u := e.s.Endpoint + "/" + seedBucket
	if key != "" {
		u += "/" + key
	}
	if query != "" {
		u += "?" + query
	}
	return u
}

// put uploads body to KEY with the root credentials and returns the local
// file holding it.
func (e *seedEnv) put(bucket, key, body string) string {
	e.t.Helper()
	f := filepath.Join(e.dir, strings.ReplaceAll(bucket+"_"+key, "/", "_"))
	if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.mustAWS("nixbucket", "s3", "cp", "--no-progress", f, "s3://"+bucket+"/"+key)
	return f
}

// writeFile writes data to a fresh file in the scratch directory.
func (e *seedEnv) writeFile(name string, data []byte) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// withAction returns a copy of the policy file with action added to the
// Action list of every statement, written to the scratch directory.
func (e *seedEnv) withAction(path, action string) string {
	e.t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		e.t.Fatalf("%s: %v", path, err)
	}
	stmts, ok := doc["Statement"].([]any)
	if !ok {
		e.t.Fatalf("%s: Statement is not an array", path)
	}
	for _, st := range stmts {
		m, ok := st.(map[string]any)
		acts, ok2 := m["Action"].([]any)
		if !ok || !ok2 {
			e.t.Fatalf("%s: a statement without an Action list", path)
		}
		if !slices.Contains(acts, any(action)) {
			m["Action"] = append(acts, action)
		}
	}
	out, err := json.MarshalIndent(doc, "", "    ")
	if err != nil {
		e.t.Fatal(err)
	}
	return e.writeFile(filepath.Base(path)+"+"+strings.ReplaceAll(action, ":", "_"), out)
}
