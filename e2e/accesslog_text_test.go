package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestAccessLogTextAndOff: in the default text format a token's request is
// logged with its user as principal and the token's id, on the line whose
// id the client got as x-amz-request-id, for a binary-cache read (the
// fast lane) and an S3 write (net/http) alike; with --access-log=off the
// same requests log nothing, while the server's other lines stay.
func TestAccessLogTextAndOff(t *testing.T) {
	t.Parallel()
	need(t, "curl")
	setupTarget(t)
	if target != targetNixbucket {
		t.Skip("the log is nixbucket's")
	}
	policy := filepath.Join(t.TempDir(), "rw.json")
	if err := os.WriteFile(policy, []byte(`{"Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::nix-cache/*"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	requests := func(s *Server) (token, id string, ids []string) {
		nixAdmin(t, s, "user", "create", "logged", "--policy", policy)
		token = strings.TrimSpace(nixAdmin(t, s, "token", "create", "--user", "logged"))
		id, ok := tokenID(token)
		if !ok {
			t.Fatalf("token create printed %q", token)
		}
		bearer := "Authorization: Bearer " + token
		get := nixHTTP(t, "", http.MethodGet, s.Endpoint+"/nix-cache/nix-cache-info", "-H", bearer)
		put := nixHTTP(t, "", http.MethodPut, s.Endpoint+"/nix-cache/logged.txt", "-H", bearer, "--data-binary", "hello")
		if get.Status != http.StatusOK || put.Status != http.StatusOK {
			t.Fatalf("GET with the token: %d, PUT: %d", get.Status, put.Status)
		}
		return token, id, []string{get.Header.Get("X-Amz-Request-Id"), put.Header.Get("X-Amz-Request-Id")}
	}

	on := startServerArgs(t, t.TempDir(), "http")
	token, tid, ids := requests(on)
	on.Stop() // the access log is written out at shutdown
	log := on.stderr.String()
	wants := []*regexp.Regexp{
		regexp.MustCompile(`(?m)^time=\S+ level=INFO msg=request id=` + regexp.QuoteMeta(ids[0]) + ` remote=127\.0\.0\.1:\d+ principal=logged token=` + tid +
			` protocol=nix operation=CacheInfo method=GET bucket=nix-cache key=nix-cache-info status=200 bytes_in=0 bytes_out=\d+ duration=\S+$`),
		regexp.MustCompile(`(?m)^time=\S+ level=INFO msg=request id=` + regexp.QuoteMeta(ids[1]) + ` remote=127\.0\.0\.1:\d+ principal=logged token=` + tid +
			` protocol=s3 operation=PutObject method=PUT bucket=nix-cache key=logged\.txt status=200 bytes_in=5 bytes_out=0 duration=\S+$`),
	}
	for i, re := range wants {
		if ids[i] == "" || !re.MatchString(log) {
			t.Errorf("no access log line matching %s in:\n%s", re, tail(log, 3000))
		}
	}
	if strings.Contains(log, token) {
		t.Error("the log holds the token's text")
	}

	off := startServerArgs(t, t.TempDir(), "http", "--access-log=off")
	requests(off)
	off.Stop()
	log = off.stderr.String()
	if strings.Contains(log, "msg=request") {
		t.Errorf("--access-log=off logged requests:\n%s", tail(log, 3000))
	}
	if !strings.Contains(log, `msg="nixbucket serving"`) {
		t.Errorf("--access-log=off silenced the server's own lines too:\n%s", tail(log, 3000))
	}
}
