package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/nixbucket/nixbucket/internal/fastlane"
	"github.com/nixbucket/nixbucket/internal/meta/backend"
	"github.com/nixbucket/nixbucket/internal/server"
)

// logBuffer collects a server's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the lines holding every one of parts.
func (l *logBuffer) lines(parts ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		ok := line != ""
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// loggedServer is a server whose log the test reads, served as `nixbucket
// serve` serves it: the fast lane first, net/http for what it hands over.
type loggedServer struct {
	srv  *server.Server
	ts   *httptest.Server
	log  *logBuffer
	data string
	// transports maps "METHOD PATH" to the type of the ResponseWriter
	// that served it.
	transports sync.Map
}

// transport returns the type of the writer that served "METHOD PATH".
func (l *loggedServer) transport(req string) string {
	v, _ := l.transports.Load(req)
	s, _ := v.(string)
	return s
}

func openLogged(t *testing.T, level slog.Level) *loggedServer {
	return openLoggedOpts(t, level, server.Options{})
}

// openLoggedOpts is openLogged with options (Data and Log are set).
func openLoggedOpts(t *testing.T, level slog.Level, opts server.Options) *loggedServer {
	t.Helper()
	l := &loggedServer{log: &logBuffer{}, data: filepath.Join(t.TempDir(), "data")}
	opts.Data = l.data
	opts.Log = slog.New(slog.NewTextHandler(l.log, &slog.HandlerOptions{Level: level}))
	srv, err := server.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	l.srv = srv
	// Which transport served each request: the type of its writer.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.transports.Store(r.Method+" "+r.URL.Path, fmt.Sprintf("%T", w))
		srv.Handler().ServeHTTP(w, r)
	})
	l.ts = httptest.NewUnstartedServer(h)
	l.ts.Listener = fastlane.NewListener(l.ts.Listener, h, fastlane.Options{})
	l.ts.Start()
	t.Cleanup(func() {
		l.ts.Close()
		srv.Close()
	})
	return l
}

func (l *loggedServer) s3(id, secret string) *s3.Client {
	e := &env{ts: l.ts}
	return e.newS3(id, secret)
}

// get sends a GET of path with the given Authorization header (none when
// empty) and returns the status.
func (l *loggedServer) get(t *testing.T, path, auth string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, l.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	// A connection of its own: one handed to net/http by an earlier
	// request stays there.
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestAuthFailureLog: every failed authentication is logged at info level
// with the key or token id it claimed, the remote address, the method,
// the path and the reason, never the secret, while the client's answer
// stays the same for an unknown key and a wrong secret.
func TestAuthFailureLog(t *testing.T) {
	l := openLogged(t, slog.LevelInfo)
	c := ctx(t)
	root := l.srv.Root
	const wrongSecret = "wrongwrongwrongwrongwrongwrongwrongwrong"
	const unknownKey = "NBUNKNOWNKEY00000000"

	_, errWrong := l.s3(root.ID, wrongSecret).ListBuckets(c, &s3.ListBucketsInput{})
	_, errUnknown := l.s3(unknownKey, wrongSecret).ListBuckets(c, &s3.ListBucketsInput{})
	if apiCode(errWrong) == "" || apiCode(errWrong) != apiCode(errUnknown) {
		t.Errorf("a wrong secret answers %v, an unknown key %v: want the same S3 error", errWrong, errUnknown)
	}

	basicWrong := (&http.Request{Header: http.Header{}})
	basicWrong.SetBasicAuth(root.ID, wrongSecret)
	if st := l.get(t, "/nix-cache/nix-cache-info", basicWrong.Header.Get("Authorization")); st != http.StatusUnauthorized && st != http.StatusForbidden {
		t.Errorf("Basic with a wrong secret: %d", st)
	}

	if _, err := l.srv.Access().CreateUser(c, "alice", nil); err != nil {
		t.Fatal(err)
	}
	revoked, revokedTok, err := l.srv.Access().CreateToken(c, "alice", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Revoked as `nixbucket token revoke` does: from another process's
	// handle on the store.
	store, err := backend.OpenExisting(l.data, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.DeleteToken(c, revokedTok.ID); err != nil {
		t.Fatal(err)
	}
	store.Close()
	l.get(t, "/nix-cache/nix-cache-info", "Bearer "+revoked)

	// A token given as the login, as a netrc line "login TOKEN password
	// x" or curl -u TOKEN: send it: refused, and its secret kept out of
	// the log.
	asLogin, asLoginTok, err := l.srv.Access().CreateToken(c, "alice", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	loginTok := (&http.Request{Header: http.Header{}})
	loginTok.SetBasicAuth(asLogin, "")
	if st := l.get(t, "/nix-cache/nix-cache-info", loginTok.Header.Get("Authorization")); st != http.StatusUnauthorized && st != http.StatusForbidden {
		t.Errorf("Basic with the token as the login: %d", st)
	}

	expired, expiredTok, err := l.srv.Access().CreateToken(c, "alice", time.Nanosecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.get(t, "/nix-cache/nix-cache-info", "Bearer "+expired)

	// A presigned URL made an hour ago, valid for a minute.
	req, _ := http.NewRequest(http.MethodGet, l.ts.URL+"/nix-cache/nix-cache-info?X-Amz-Expires=60", nil)
	presigned, _, err := v4.NewSigner().PresignHTTP(c, aws.Credentials{AccessKeyID: root.ID, SecretAccessKey: root.Secret},
		req, "UNSIGNED-PAYLOAD", "s3", region, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := l.ts.Client().Get(presigned); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}

	for _, tc := range []struct {
		name  string
		parts []string
	}{
		{"wrong secret", []string{"key_id=" + root.ID, "method=GET", "path=/", `reason="signature does not match`}},
		{"unknown key", []string{"key_id=" + unknownKey, `reason="unknown access key`}},
		{"Basic wrong secret", []string{"key_id=" + root.ID, "path=/nix-cache/nix-cache-info", `reason="wrong secret"`}},
		{"revoked token", []string{"token_id=" + revokedTok.ID, `reason="unknown token (revoked`}},
		{"expired token", []string{"token_id=" + expiredTok.ID, "reason=\"token " + expiredTok.ID + " expired at"}},
		{"expired presign", []string{"key_id=" + root.ID, `reason="presigned URL expired"`}},
		{"token as the login", []string{"token_id=" + asLoginTok.ID, `reason="a token given as the login`}},
	} {
		parts := append([]string{"level=INFO", `msg="authentication failed"`, "remote=127.0.0.1:"}, tc.parts...)
		if got := l.log.lines(parts...); len(got) != 1 {
			t.Errorf("%s: %d lines with %q, want 1; the log:\n%s", tc.name, len(got), parts, l.log)
		}
	}
	for _, secret := range []string{wrongSecret, root.Secret, revoked[len(revoked)-40:], expired[len(expired)-40:], asLogin[len(asLogin)-40:]} {
		if strings.Contains(l.log.String(), secret) {
			t.Errorf("the log holds a secret %q:\n%s", secret, l.log)
		}
	}
}

// TestAccessLogBothTransports: with the access log on, every request is
// logged once answered, whichever transport served it (a plain GET stays
// in the fast lane, a PUT goes to net/http), with who asked and what; with
// it off, none is.
func TestAccessLogBothTransports(t *testing.T) {
	access := &logBuffer{}
	l := openLoggedOpts(t, slog.LevelInfo, server.Options{AccessLog: access})
	c := ctx(t)
	cl := l.s3(l.srv.Root.ID, l.srv.Root.Secret)
	if _, err := cl.PutObject(c, &s3.PutObjectInput{Bucket: aws.String("nix-cache"), Key: aws.String("hello.txt"), Body: strings.NewReader("hello\n")}); err != nil {
		t.Fatal(err)
	}
	basic := &http.Request{Header: http.Header{}}
	basic.SetBasicAuth(l.srv.Root.ID, l.srv.Root.Secret)
	if st := l.get(t, "/nix-cache/hello.txt", basic.Header.Get("Authorization")); st != http.StatusOK {
		t.Fatalf("GET hello.txt: %d", st)
	}
	if st := l.get(t, "/nix-cache/missing.txt", ""); st != http.StatusForbidden && st != http.StatusUnauthorized && st != http.StatusNotFound {
		t.Fatalf("anonymous GET missing.txt: %d", st)
	}
	if st := l.get(t, "/nix-cache/nix-cache-info", basic.Header.Get("Authorization")); st != http.StatusOK {
		t.Fatalf("GET nix-cache-info: %d", st)
	}
	// Both transports were used, and both logged.
	if tr := l.transport("GET /nix-cache/hello.txt"); !strings.Contains(tr, "fastlane") {
		t.Errorf("GET hello.txt served by %q, want the fast lane", tr)
	}
	if tr := l.transport("PUT /nix-cache/hello.txt"); strings.Contains(tr, "fastlane") || tr == "" {
		t.Errorf("PUT hello.txt served by %q, want net/http", tr)
	}
	want := [][]string{
		{"operation=PutObject", "protocol=s3", "method=PUT", "key=hello.txt", "status=200", "principal=root", "bytes_in=6"},
		{"operation=GetObject", "protocol=s3", "method=GET", "key=hello.txt", "status=200", "principal=root", "bytes_out=6"},
		{"operation=GetObject", "method=GET", "key=missing.txt", "status=4", "principal=anonymous"},
		{"operation=CacheInfo", "protocol=nix", "method=GET", "key=nix-cache-info", "status=200", "principal=root"},
	}
	for _, parts := range want {
		parts = append([]string{"level=INFO", "msg=request", "id=", "duration=", "remote=127.0.0.1:", "bucket=nix-cache"}, parts...)
		// The access log is written in the background: wait for it,
		// within a bound generous on a loaded machine.
		var got []string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if got = access.lines(parts...); len(got) > 0 {
				break
			}
		}
		if len(got) != 1 {
			t.Errorf("%d lines with %q, want 1; the access log:\n%s", len(got), parts, access)
		}
	}
	if got := l.log.lines("msg=request"); len(got) != 0 {
		t.Errorf("requests logged in the server's log, not the access log: %q", got)
	}

	quiet := openLogged(t, slog.LevelDebug)
	quiet.get(t, "/nix-cache/nix-cache-info", "")
	if got := quiet.log.lines("msg=request"); len(got) != 0 {
		t.Errorf("with the access log off requests are logged: %q", got)
	}
}

// TestConsoleSignInLog: a refused sign-in to the web console is logged
// with the key or token id it claimed, never a secret, even one typed in
// the wrong field (a token pasted as the access key id).
func TestConsoleSignInLog(t *testing.T) {
	l := openLogged(t, slog.LevelInfo)
	c := ctx(t)
	if _, err := l.srv.Access().CreateUser(c, "alice", nil); err != nil {
		t.Fatal(err)
	}
	tok, tokRec, err := l.srv.Access().CreateToken(c, "alice", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Get(l.ts.URL + "/-/ui/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the sign-in page:\n%s", page)
	}
	wrongToken := tok[:len(tok)-1] + "x"
	for _, form := range []url.Values{
		{"key_id": {tok}, "secret": {"whatever"}},          // the token as the key id
		{"key_id": {l.srv.Root.ID}, "secret": {tok}},       // the token as the secret
		{"token": {wrongToken}},                            // a token with a wrong secret
		{"key_id": {l.srv.Root.ID}, "token": {wrongToken}}, // both fields
	} {
		form.Set("csrf", string(m[1]))
		resp, err := cl.PostForm(l.ts.URL+"/-/ui/login", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("sign-in with %v: %d, want 401", form, resp.StatusCode)
		}
	}
	lines := l.log.lines(`msg="console sign-in refused"`)
	if len(lines) != 4 {
		t.Fatalf("%d sign-in refusals logged, want 4; the log:\n%s", len(lines), l.log)
	}
	for i, want := range []string{"token_id=" + tokRec.ID, "key_id=" + l.srv.Root.ID, "token_id=" + tokRec.ID, "token_id=" + tokRec.ID} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("refusal %d: %s\nwant %s", i, lines[i], want)
		}
	}
	for _, secret := range []string{tok[len(tok)-40:], wrongToken[len(wrongToken)-40:]} {
		if strings.Contains(l.log.String(), secret) {
			t.Errorf("the log holds a secret %q:\n%s", secret, l.log)
		}
	}
}
