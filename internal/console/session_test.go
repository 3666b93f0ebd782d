package console

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func testHandler(key string) *Handler {
	return &Handler{key: []byte(strings.Repeat(key, 32))}
}

// TestSessionCookie: a cookie made by one node is accepted by another with
// the same key (the store's), and refused when tampered with, expired, or
// made with another key.
func TestSessionCookie(t *testing.T) {
	a, b, other := testHandler("k"), testHandler("k"), testHandler("x")
	s := session{ID: newSessionID(), Key: "NBKEY", Expires: time.Now().Add(time.Hour).Unix()}
	v := a.encode(s)
	if strings.Contains(v, "secret") {
		t.Fatal("cookie holds more than ids")
	}
	got, err := b.decode(v)
	if err != nil || got != s {
		t.Fatalf("another node decodes %+v, %v; want %+v", got, err, s)
	}
	if _, err := other.decode(v); err == nil {
		t.Error("a cookie MAC'd with another key was accepted")
	}
	payload, mac, _ := strings.Cut(v, ".")
	forged := a.encode(session{ID: s.ID, Key: "ROOTKEY", Expires: s.Expires})
	fp, _, _ := strings.Cut(forged, ".")
	for name, bad := range map[string]string{
		"other payload, old MAC": fp + "." + mac,
		"truncated MAC":          payload + "." + mac[:10],
		"no MAC":                 payload,
		"empty":                  "",
		"garbage":                "a.b",
	} {
		if _, err := a.decode(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	expired := a.encode(session{ID: "x", Expires: time.Now().Add(-time.Second).Unix()})
	if _, err := a.decode(expired); err == nil {
		t.Error("an expired session was accepted")
	}
}

// TestCSRF: a form's token is bound to its session; POSTs with none,
// another session's, or a wrong one are refused.
func TestCSRF(t *testing.T) {
	h := testHandler("k")
	s1 := session{ID: newSessionID()}
	s2 := session{ID: newSessionID()}
	post := func(token string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, Prefix+"buckets", strings.NewReader(url.Values{"csrf": {token}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
	if !h.checkCSRF(post(h.csrfToken(s1)), s1) {
		t.Fatal("the session's own token was refused")
	}
	for name, tok := range map[string]string{"none": "", "other session's": h.csrfToken(s2), "wrong": strings.Repeat("A", 43)} {
		if h.checkCSRF(post(tok), s1) {
			t.Errorf("%s token accepted", name)
		}
	}
	if h.checkCSRF(post(""), session{}) {
		t.Error("no session, no token: accepted")
	}
}

// TestCookieAttributes: HttpOnly, SameSite=Strict, limited to the
// console, and Secure exactly when the request came over TLS.
func TestCookieAttributes(t *testing.T) {
	h := testHandler("k")
	for _, tls := range []bool{false, true} {
		r := httptest.NewRequest(http.MethodGet, "http://example.org"+Prefix, nil)
		if tls {
			r = httptest.NewRequest(http.MethodGet, "https://example.org"+Prefix, nil)
		}
		w := httptest.NewRecorder()
		h.setSession(w, r, session{ID: "x", Expires: time.Now().Add(time.Hour).Unix()})
		c := w.Result().Cookies()
		if len(c) != 1 {
			t.Fatalf("cookies %v", c)
		}
		if !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode || c[0].Path != Prefix || c[0].Secure != tls {
			t.Errorf("TLS %v: cookie %+v", tls, c[0])
		}
	}
}
