package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/forwarded"
)

// CookieName is the session cookie.
const CookieName = "nixbucket_console"

// SessionTTL is how long a sign-in lasts.
const SessionTTL = 12 * time.Hour

// session is what the cookie carries, MAC'd with the console key: who
// signed in (an access key id or a token id, never a secret) and a random
// id the CSRF token is derived from. A session with neither key nor token
// is an anonymous visitor's, made for the sign-in form's CSRF token.
type session struct {
	ID      string `json:"s"`
	Key     string `json:"k,omitempty"` // access key id
	Token   string `json:"t,omitempty"` // token id
	Expires int64  `json:"e"`           // Unix seconds
}

func (s session) signedIn() bool { return s.Key != "" || s.Token != "" }

func newSessionID() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// mac returns HMAC-SHA256(key, purpose ‖ 0 ‖ msg).
func mac(key []byte, purpose string, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(msg)
	return m.Sum(nil)
}

// encode returns the cookie value: base64(json).base64(mac).
func (h *Handler) encode(s session) string {
	b, _ := json.Marshal(s)
	return base64.RawURLEncoding.EncodeToString(b) + "." +
		base64.RawURLEncoding.EncodeToString(mac(h.key, "session", b))
}

var errNoSession = errors.New("no valid session")

// decode checks a cookie value's MAC (in constant time) and expiry.
func (h *Handler) decode(v string) (session, error) {
	p, m, ok := strings.Cut(v, ".")
	if !ok || len(v) > 1024 {
		return session{}, errNoSession
	}
	body, err1 := base64.RawURLEncoding.DecodeString(p)
	sum, err2 := base64.RawURLEncoding.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(sum, mac(h.key, "session", body)) {
		return session{}, errNoSession
	}
	var s session
	if err := json.Unmarshal(body, &s); err != nil || s.ID == "" {
		return session{}, errNoSession
	}
	if time.Now().Unix() > s.Expires {
		return session{}, errNoSession
	}
	return s, nil
}

// readSession returns the request's session, ok false for none.
func (h *Handler) readSession(r *http.Request) (session, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return session{}, false
	}
	s, err := h.decode(c.Value)
	return s, err == nil
}

// setSession sends the cookie: HttpOnly, SameSite=Strict, Secure when the
// request came over TLS, limited to the console's path.
func (h *Handler) setSession(w http.ResponseWriter, r *http.Request, s session) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: h.encode(s), Path: Prefix,
		MaxAge:   int(time.Until(time.Unix(s.Expires, 0)).Seconds()),
		HttpOnly: true, Secure: forwarded.Secure(r), SameSite: http.SameSiteStrictMode,
	})
}

func (h *Handler) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: Prefix, MaxAge: -1,
		HttpOnly: true, Secure: forwarded.Secure(r), SameSite: http.SameSiteStrictMode})
}

// csrfToken is the token every form of the session carries.
func (h *Handler) csrfToken(s session) string {
	return base64.RawURLEncoding.EncodeToString(mac(h.key, "csrf", []byte(s.ID)))
}

// checkCSRF reports whether a POST carries its session's CSRF token,
// compared in constant time.
func (h *Handler) checkCSRF(r *http.Request, s session) bool {
	if s.ID == "" {
		return false
	}
	got := r.PostFormValue("csrf")
	want := h.csrfToken(s)
	return len(got) == len(want) && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
