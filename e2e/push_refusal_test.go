package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPushRefusals pushes to a real nixbucket over http:// and s3:// in
// each way a cache refuses a push: no credentials sent, an unknown key or a
// wrong secret, a policy's denial, and a missing bucket. Each must be said
// in exactly one line that names the cause and the fix, without the
// server's XML, and push must stop at the first refusal (exit 1) instead
// of trying every path: three independent paths are pushed one at a time
// through a proxy that counts the writes.
func TestPushRefusals(t *testing.T) {
	t.Parallel()
	pushNeedNix(t)
	s := nixStart(t)
	e := pushS3Of(s)
	var roots []string
	for i := range 3 {
		roots = append(roots, nixBuildClosure(t, 1, 1, fmt.Sprintf("push-refusals-%d", i)).Top)
	}

	// A public-read bucket, where anonymous pushes get 403 rather than 401:
	// before, every path was refused there one by one.
	pushCreateBucket(t, e, "public-cache")
	nixAdmin(t, s, "bucket", "policy", "set", "public-cache", "anonymous-read")
	// A user who may read nix-cache but not write it.
	readOnly := filepath.Join(t.TempDir(), "read-only.json")
	if err := os.WriteFile(readOnly, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::nix-cache","arn:aws:s3:::nix-cache/*"]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	credsFile := filepath.Join(t.TempDir(), "reader")
	if err := os.WriteFile(credsFile, []byte(nixAdmin(t, s, "user", "create", "reader", "--policy", readOnly)), 0o600); err != nil {
		t.Fatal(err)
	}
	prof, err := parseINI(credsFile)
	if err != nil {
		t.Fatal(err)
	}
	readerKey, readerSecret := prof["reader"]["aws_access_key_id"], prof["reader"]["aws_secret_access_key"]

	// A token of the reader that has expired: wait until the server says so.
	expired := strings.TrimSpace(nixAdmin(t, s, "token", "create", "--user", "reader", "--expires", "1s"))
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		r := nixHTTP(t, "", http.MethodGet, s.Endpoint+"/nix-cache/nix-cache-info", "-u", "reader:"+expired)
		if r.Status == http.StatusForbidden && strings.Contains(r.Body, "expired") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the token made with --expires 1s still works after a minute: %d %s", r.Status, r.Body)
		}
	}

	p := newCountingProxy(t, s.Endpoint)
	host := p.host()
	netrc := func(login, password string) string {
		f := filepath.Join(t.TempDir(), "netrc")
		line := ""
		if login != "" {
			line = fmt.Sprintf("machine 127.0.0.1 login %s password %s\n", login, password)
		}
		if err := os.WriteFile(f, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	netrcDir := t.TempDir()
	netrcText := func(name, text string) string {
		f := filepath.Join(netrcDir, name)
		if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s3url := func(bucket, profile string) string {
		u := fmt.Sprintf("s3://%s?endpoint=%s&scheme=http", bucket, host)
		if profile != "" {
			u += "&profile=" + profile
		}
		return u
	}
	httpURL := func(bucket string) string { return "http://" + host + "/" + bucket }

	tests := []struct {
		name string
		env  []string
		args []string
		want string // the one line that says it
	}{
		{"http no credentials, private", nil, []string{"--netrc-file", netrc("", ""), "--to", httpURL("nix-cache")},
			`no credentials were sent to ` + httpURL("nix-cache")},
		{"http no credentials, public-read", nil, []string{"--netrc-file", netrc("", ""), "--to", httpURL("public-cache")},
			`no credentials were sent to ` + httpURL("public-cache")},
		{"http netrc names the port", nil, []string{"--netrc-file", netrcText("port", "machine "+host+" login "+e.AccessKey+" password "+e.Secret+"\n"), "--to", httpURL("nix-cache")},
			`(it has lines for ` + host + ` only: a machine is a host name alone, without scheme, port or path)`},
		{"http netrc names another host", nil, []string{"--netrc-file", netrcText("other-host", "machine localhost login "+e.AccessKey+" password "+e.Secret+"\n"), "--to", httpURL("nix-cache")},
			`to ` + filepath.Join(netrcDir, "other-host") + ` (it has lines for localhost only)`},
		{"http netrc not netrc", nil, []string{"--netrc-file", netrcText("not-netrc", "127.0.0.1 "+e.AccessKey+" "+e.Secret+"\n"), "--to", httpURL("nix-cache")},
			`netrc: unexpected "127.0.0.1" (an entry is: machine HOST login NAME password SECRET)`},
		{"http expired token, netrc", nil, []string{"--netrc-file", netrc("reader", expired), "--to", httpURL("nix-cache")},
			`Z); make a new one (nixbucket token create --user reader) and put it in `},
		{"http expired token, bearer", nil, []string{"--token-file", netrcText("token", expired), "--to", httpURL("nix-cache")},
			`Z); make a new one (nixbucket token create --user NAME) and pass it instead`},
		{"http wrong secret", nil, []string{"--netrc-file", netrc(e.AccessKey, "not-the-secret"), "--to", httpURL("nix-cache")},
			`refused the netrc login "` + e.AccessKey + `" for 127.0.0.1: the key or token is unknown or its secret is wrong`},
		{"http unknown key", nil, []string{"--netrc-file", netrc("NBNOSUCHKEY0000000", "x"), "--to", httpURL("nix-cache")},
			`the key or token is unknown or its secret is wrong`},
		{"http denied by policy", nil, []string{"--netrc-file", netrc(readerKey, readerSecret), "--to", httpURL("nix-cache")},
			`access denied: the netrc login "` + readerKey + `" for 127.0.0.1 may not write to ` + httpURL("nix-cache")},
		{"http no such bucket", nil, []string{"--netrc-file", netrc(e.AccessKey, e.Secret), "--to", httpURL("no-such-bucket")},
			`the cache ` + httpURL("no-such-bucket") + ` does not exist`},
		{"http URL without a bucket", nil, []string{"--netrc-file", netrc(e.AccessKey, e.Secret), "--to", "http://" + host},
			`names no bucket (GET nix-cache-info: 400 XNixbucketNotACache: http://` + host + ` is a nixbucket server, not a binary cache`},
		{"s3 no credentials", []string{"AWS_CONFIG_FILE=" + empty, "AWS_SHARED_CREDENTIALS_FILE=" + empty}, []string{"--to", s3url("nix-cache", "")},
			`no AWS credentials: tried the environment`},
		{"s3 wrong secret", pushAWSFiles(t, "p", e.AccessKey, "not-the-secret", "us-east-1"), []string{"--to", s3url("nix-cache", "p")},
			`refused the access key ` + e.AccessKey + ` (from profile "p" in`},
		{"s3 wrong secret in the config file", []string{"AWS_SHARED_CREDENTIALS_FILE=" + empty, "AWS_CONFIG_FILE=" + netrcText("aws-config", "[profile p]\naws_access_key_id = "+e.AccessKey+"\naws_secret_access_key = not-the-secret\n")},
			[]string{"--to", s3url("nix-cache", "p")},
			`refused the access key ` + e.AccessKey + ` (from profile "p" in ` + filepath.Join(netrcDir, "aws-config") + `)`},
		{"s3 unknown key", pushAWSFiles(t, "p", "NBNOSUCHKEY0000000", "x", "us-east-1"), []string{"--to", s3url("nix-cache", "p")},
			`refused the access key NBNOSUCHKEY0000000`},
		{"s3 denied by policy", pushAWSFiles(t, "p", readerKey, readerSecret, "us-east-1"), []string{"--to", s3url("nix-cache", "p")},
			`access denied: s3:PutObject on arn:aws:s3:::nix-cache/`},
		{"s3 no such bucket", pushAWSFiles(t, "p", e.AccessKey, e.Secret, "us-east-1"), []string{"--to", s3url("no-such-bucket", "p")},
			`the bucket "no-such-bucket" does not exist`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.reset()
			args := append(append([]string{"--jobs", "1"}, tt.args...), roots...)
			r := pushRun(t, pushEnv(t, tt.env...), args...)
			if ee := (*exec.ExitError)(nil); !errors.As(r.Err, &ee) || ee.ExitCode() != 1 {
				t.Errorf("push: %v, want exit status 1", r.Err)
			}
			var said []string
			for line := range strings.Lines(r.Stderr) {
				if strings.Contains(line, tt.want) {
					said = append(said, line)
				}
			}
			if len(said) != 1 || !strings.HasPrefix(said[0], "nixbucket: push: ") {
				t.Errorf("want exactly one line %q containing %q, got %d:\n%s", "nixbucket: push: …", tt.want, len(said), r.Stderr)
			}
			if n := strings.Count(r.Stderr, "nixbucket: "); n != 1 {
				t.Errorf("%d error lines, want 1:\n%s", n, r.Stderr)
			}
			if strings.ContainsAny(r.Stderr, "<>") || strings.Contains(r.Stderr, "failed /nix/store") {
				t.Errorf("standard error holds markup or a failure per path:\n%s", r.Stderr)
			}
			if w := p.writes(); w > 1 {
				t.Errorf("push sent %d writes (PUT/POST) to the cache, want at most 1: it must stop at the first refusal\n%s", w, r.Stderr)
			}
			t.Logf("%s", strings.TrimSpace(r.Stderr))
		})
	}
}

// countingProxy is a reverse proxy in front of a server that counts the
// writes (PUT and POST) that pass through it. S3 signatures stay valid:
// the Host header is passed on as the client sent it.
type countingProxy struct {
	srv *httptest.Server
	mu  sync.Mutex
	n   int
}

func newCountingProxy(t testing.TB, target string) *countingProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut || r.Method == http.MethodPost {
			p.mu.Lock()
			p.n++
			p.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *countingProxy) host() string { return p.srv.Listener.Addr().String() }

func (p *countingProxy) reset() {
	p.mu.Lock()
	p.n = 0
	p.mu.Unlock()
}

func (p *countingProxy) writes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}
