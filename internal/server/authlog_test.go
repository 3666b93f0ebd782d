package server

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/sigv4"
)

// TestAuthLogRate: a flood of failures writes at most authLogPerSecond
// lines a second, then one line counting the ones left out.
func TestAuthLogRate(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1_700_000_000, 0)
	l := &authLog{log: slog.New(slog.NewTextHandler(&buf, nil)), now: func() time.Time { return now }}
	skewed := &sigv4.Error{Code: sigv4.CodeRequestTimeTooSkewed, Message: "too skewed"}
	r := httptest.NewRequest("GET", "/b/k", nil)
	for range authLogPerSecond + 7 {
		l.refused(r, skewed)
	}
	if n := strings.Count(buf.String(), `msg="authentication failed"`); n != authLogPerSecond {
		t.Errorf("%d lines in the first second, want %d:\n%s", n, authLogPerSecond, buf.String())
	}
	if strings.Contains(buf.String(), "suppressed") {
		t.Errorf("suppressed reported before the second ended:\n%s", buf.String())
	}
	buf.Reset()
	now = now.Add(time.Second)
	l.refused(r, skewed)
	if got := buf.String(); !strings.Contains(got, "suppressed=7") || strings.Count(got, `msg="authentication failed"`) != 1 {
		t.Errorf("next second:\n%s\nwant a suppressed=7 line and the failure", got)
	}
}

// TestClaimedCredential: the id every kind of credential names, never its
// secret.
func TestClaimedCredential(t *testing.T) {
	for _, tc := range []struct {
		auth, query string
		want        credential
	}{
		{"AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=ab", "", credential{key: "AKID"}},
		{"AWS4-HMAC-SHA256 Credential=A/B/20250101/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=ab", "", credential{key: "A/B"}},
		{"AWS AKID:c2lnbmF0dXJl", "", credential{key: "AKID"}},
		{"Bearer nbt_abcdef_secretsecret", "", credential{token: "abcdef"}},
		{"Basic " + basic("alice", "nbt_tok1_secret"), "", credential{token: "tok1"}},
		{"Basic " + basic("AKID", "secret"), "", credential{key: "AKID"}},
		// A token as the login (a netrc line "login TOKEN password x",
		// curl -u TOKEN:) is refused: its id is logged, not its secret.
		{"Basic " + basic("nbt_tok2_secret", "x"), "", credential{token: "tok2", asLogin: true}},
		{"Basic " + basic("nbt_tok2_secret", ""), "", credential{token: "tok2", asLogin: true}},
		{"", "X-Amz-Credential=AKID%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=ab", credential{key: "AKID"}},
		{"", "AWSAccessKeyId=AKID&Signature=ab&Expires=1", credential{key: "AKID"}},
		{"", "", credential{}},
	} {
		r := httptest.NewRequest("GET", "/b/k?"+tc.query, nil)
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		if got := claimedCredential(r); got != tc.want {
			t.Errorf("%q %q: %+v, want %+v", tc.auth, tc.query, got, tc.want)
		}
	}
}

func basic(user, pass string) string {
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}
