package console

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
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
	ID    string `json:"s"`
	Key   string `json:"k,omitempty"` // access key id
	Token string `json:"t,omitempty"` // token id
	// Gen is how many times the key or token had signed out of the
	// console when the session was issued: a count, not a time, so that
	// nodes whose clocks differ agree on which sessions a sign-out ended.
	Gen     int64 `json:"g,omitempty"`
	Expires int64 `json:"e"` // Unix seconds
}

// newSession starts a session of an access key or a token (neither: an
// anonymous visitor's, which reads nothing) now, for SessionTTL.
func (h *Handler) newSession(ctx context.Context, key, token string) (session, error) {
	s := session{ID: newSessionID(), Key: key, Token: token, Expires: h.clock().Add(SessionTTL).Unix()}
	if !s.signedIn() {
		return s, nil
	}
	var err error
	s.Gen, err = h.signOuts(ctx, s)
	return s, err
}

// clock is the node's time (Handler.now, for tests).
func (h *Handler) clock() time.Time {
	if h.now != nil {
		return h.now()
	}
	return time.Now()
}

// signedOutSetting names the metadata store setting that counts the
// session's credentials' sign-outs of the console: every session of them
// issued before the last is void, on every node, even as a cookie copied
// before the sign-out.
func (s session) signedOutSetting() string {
	if s.Token != "" {
		return SignedOutSetting + "token:" + s.Token
	}
	return SignedOutSetting + "key:" + s.Key
}

// signOuts returns how many times s's credentials signed out.
func (h *Handler) signOuts(ctx context.Context, s session) (int64, error) {
	v, err := h.store.Setting(ctx, s.signedOutSetting())
	if err != nil || v == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("setting %s: %w", s.signedOutSetting(), err)
	}
	return n, nil
}

// errSignedOut is a session issued before its credentials signed out.
var errSignedOut = errors.New("console session ended by a sign-out")

// checkSignedOut fails for a session its credentials have signed out of.
func (h *Handler) checkSignedOut(ctx context.Context, s session) error {
	n, err := h.signOuts(ctx, s)
	if err != nil {
		return err
	}
	if s.Gen < n {
		return errSignedOut
	}
	return nil
}

// signOut voids every session of s's credentials issued until now. Two
// at once may count one: either voids the sessions issued before both.
func (h *Handler) signOut(ctx context.Context, s session) error {
	n, err := h.signOuts(ctx, s)
	if err != nil {
		return err
	}
	return h.store.SetSetting(ctx, s.signedOutSetting(), strconv.FormatInt(n+1, 10))
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
