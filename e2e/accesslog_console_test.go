package e2e

import (
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestAccessLogConsoleSignIn signs in to the console with curl and a
// cookie jar, as a browser does: the pages a signed-in visitor opens are
// logged with their user (and token) as principal, not as anonymous, and
// a refused sign-in counts as an authentication failure as a refused
// netrc line does.
func TestAccessLogConsoleSignIn(t *testing.T) {
	t.Parallel()
	need(t, "curl")
	setupTarget(t)
	if target != targetNixbucket {
		t.Skip("the console is nixbucket's")
	}
	s := startServerArgs(t, t.TempDir(), "http")
	nixAdmin(t, s, "user", "create", "visitor")
	token := strings.TrimSpace(nixAdmin(t, s, "token", "create", "--user", "visitor"))
	tid, ok := tokenID(token)
	if !ok {
		t.Fatalf("token create printed %q", token)
	}
	login := s.Endpoint + "/-/ui/login"
	csrfRe := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	// signIn posts the form with a fresh session's CSRF token and returns
	// the status and the cookie jar.
	signIn := func(fields ...string) (string, string) {
		dir := t.TempDir()
		jar := filepath.Join(dir, "jar")
		page := mustRun(t, s.clientEnv(), dir, "curl", "-sS", "-c", jar, "-b", jar, login)
		m := csrfRe.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no CSRF token in the sign-in page:\n%s", page)
		}
		args := []string{"-sS", "-o", "/dev/null", "-w", "%{http_code}", "-c", jar, "-b", jar, "--data-urlencode", "csrf=" + m[1]}
		for _, f := range fields {
			args = append(args, "--data-urlencode", f)
		}
		return mustRun(t, s.clientEnv(), dir, "curl", append(args, login)...), jar
	}
	page := func(jar, url string) string {
		return mustRun(t, s.clientEnv(), t.TempDir(), "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-b", jar, url)
	}

	if st, _ := signIn("key_id="+s.AccessKey, "secret=wrong"); st != "401" {
		t.Fatalf("sign-in with a wrong secret: %s, want 401", st)
	}
	if v, _ := metricValue(t, s, `nixbucket_auth_failures_total{reason="key_rejected"}`); v != 1 {
		t.Errorf(`auth_failures_total{reason="key_rejected"} = %v after a refused sign-in, want 1`, v)
	}
	st, keyJar := signIn("key_id="+s.AccessKey, "secret="+s.SecretKey)
	if st != "303" {
		t.Fatalf("sign-in with the admin key: %s, want 303", st)
	}
	if st := page(keyJar, s.Endpoint+"/-/ui/"); st != "200" {
		t.Fatalf("buckets page: %s", st)
	}
	// A file of the bucket downloaded from the console counts as the
	// bucket's traffic, under its name and key.
	curlS3(t, s, http.MethodPut, s.Endpoint+"/nix-cache/console.txt", "--data-binary", "seen in the console")
	if st := page(keyJar, s.Endpoint+"/-/ui/b/nix-cache/file/console.txt"); st != "200" {
		t.Fatalf("console download: %s", st)
	}
	if v, _ := metricValue(t, s, `nixbucket_sent_bytes_total{bucket="nix-cache",protocol="s3"}`); v != 19 {
		t.Errorf(`sent_bytes_total{bucket="nix-cache",protocol="s3"} = %v after a 19-byte console download, want 19`, v)
	}
	st, tokenJar := signIn("token=" + token)
	if st != "303" {
		t.Fatalf("sign-in with a token: %s, want 303", st)
	}
	if st := page(tokenJar, s.Endpoint+"/-/ui/traffic"); st != "200" {
		t.Fatalf("buckets page: %s", st)
	}

	// Nine requests: three sign-in pages, three sign-ins, two pages, a
	// download.
	log := s.logWithCount("operation=Console", 9)
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^time=\S+ level=INFO msg=request id=\S+ remote=\S+ principal=root protocol=s3 operation=Console method=POST status=303 `),
		regexp.MustCompile(`(?m)^time=\S+ level=INFO msg=request id=\S+ remote=\S+ principal=root protocol=s3 operation=Console method=GET status=200 `),
		regexp.MustCompile(`(?m)^time=\S+ level=INFO msg=request id=\S+ remote=\S+ principal=visitor token=` + tid + ` protocol=s3 operation=Console method=POST status=303 `),
		regexp.MustCompile(`(?m)^time=\S+ level=INFO msg=request id=\S+ remote=\S+ principal=visitor token=` + tid + ` protocol=s3 operation=Console method=GET status=200 `),
		regexp.MustCompile(`(?m)^time=\S+ level=INFO msg=request id=\S+ remote=\S+ principal=anonymous protocol=s3 operation=Console method=POST status=401 `),
		regexp.MustCompile(`(?m)^time=\S+ level=INFO msg=request id=\S+ remote=\S+ principal=root protocol=s3 operation=Console method=GET bucket=nix-cache key=console\.txt status=200 bytes_in=0 bytes_out=19 `),
	} {
		if !re.MatchString(log) {
			t.Errorf("no access log line matching %s in:\n%s", re, tail(grepLines(log, "operation=Console"), 3000))
		}
	}
	if strings.Contains(log, token) {
		t.Error("the log holds the token's text")
	}
}
