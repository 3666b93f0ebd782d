package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nixbucket/nixbucket/internal/access"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/sigv4"
)

// authLogPerSecond caps the lines authLog writes each second; the failures
// past it are counted and reported in one line.
const authLogPerSecond = 20

// authLog logs every failed authentication at info level: which key or
// token it claimed (never a secret), who sent it, what it asked, and why it
// failed. The client's answer stays uniform (an unknown key and a wrong
// secret read alike); the administrator's log tells them apart, looking
// the id up again only for the lines it writes. A flood of failures costs
// at most authLogPerSecond lines and look-ups a second.
type authLog struct {
	log  *slog.Logger
	meta meta.Store
	now  func() time.Time

	mu         sync.Mutex
	second     int64 // the Unix second being counted
	written    int   // lines written in it
	suppressed int   // failures not logged since the last line about them
}

// refused is s3api.Handler.Refused.
func (l *authLog) refused(r *http.Request, err error) {
	ctx := r.Context()
	if !l.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	ok, dropped := l.admit()
	if dropped > 0 {
		l.log.LogAttrs(ctx, slog.LevelInfo, "authentication failures not logged (rate limit)", slog.Int("suppressed", dropped))
	}
	if !ok {
		return
	}
	c := claimedCredential(r)
	attrs := make([]slog.Attr, 0, 6)
	switch {
	case c.token != "":
		attrs = append(attrs, slog.String("token_id", c.token))
	case c.key != "":
		attrs = append(attrs, slog.String("key_id", c.key))
	}
	attrs = append(attrs,
		slog.String("remote", r.RemoteAddr),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("reason", l.reason(ctx, c, err)),
	)
	l.log.LogAttrs(ctx, slog.LevelInfo, "authentication failed", attrs...)
}

// admit counts one failure and reports whether it may be logged, and how
// many failures went unlogged before this second (to be reported once).
func (l *authLog) admit() (ok bool, dropped int) {
	now := time.Now
	if l.now != nil {
		now = l.now
	}
	sec := now().Unix()
	l.mu.Lock()
	defer l.mu.Unlock()
	if sec != l.second {
		l.second, l.written = sec, 0
		dropped, l.suppressed = l.suppressed, 0
	}
	if l.written >= authLogPerSecond {
		l.suppressed++
		return false, dropped
	}
	l.written++
	return true, dropped
}

// credential is what a request claims to be: an access key id, or a token
// id. asLogin is a token sent as HTTP Basic's login, where nixbucket
// takes an access key id (and a token only in the password).
type credential struct {
	key, token string
	asLogin    bool
}

// claimedCredential finds the key or token id a request names, in any of
// the ways a client sends one; never the secret.
func claimedCredential(r *http.Request) credential {
	auth := r.Header.Get("Authorization")
	scheme, rest, _ := strings.Cut(auth, " ")
	switch {
	case scheme == "AWS4-HMAC-SHA256":
		_, cred, _ := strings.Cut(rest, "Credential=")
		cred, _, _ = strings.Cut(cred, ",")
		return credential{key: keyOfScope(strings.TrimSpace(cred))}
	case scheme == "AWS":
		id, _, _ := strings.Cut(rest, ":")
		return credential{key: id}
	case strings.EqualFold(scheme, "Bearer"):
		return credential{token: access.TokenID(strings.TrimSpace(rest))}
	case strings.EqualFold(scheme, "Basic"):
		user, pass, _ := r.BasicAuth()
		if strings.HasPrefix(pass, access.TokenPrefix) {
			return credential{token: access.TokenID(pass)}
		}
		if strings.HasPrefix(user, access.TokenPrefix) {
			// A netrc line "login TOKEN" or curl -u TOKEN: the login
			// holds the token's secret, which is never logged.
			return credential{token: access.TokenID(user), asLogin: true}
		}
		return credential{key: user}
	}
	if r.URL.RawQuery != "" {
		q, _ := url.ParseQuery(r.URL.RawQuery)
		if c := q.Get("X-Amz-Credential"); c != "" {
			return credential{key: keyOfScope(c)}
		}
		return credential{key: q.Get("AWSAccessKeyId")}
	}
	return credential{}
}

// keyOfScope is the access key id of "AKID/DATE/REGION/s3/aws4_request".
func keyOfScope(cred string) string {
	if i := strings.LastIndexByte(cred, '/'); i >= 0 {
		for range 3 {
			if i = strings.LastIndexByte(cred[:i], '/'); i < 0 {
				return cred
			}
		}
		return cred[:i]
	}
	return cred
}

// reason says why the authentication failed, in more detail than the
// client was told: whether the key or token exists, is disabled or has
// expired, or whether the secret or signature was wrong.
func (l *authLog) reason(ctx context.Context, c credential, err error) string {
	var se *sigv4.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sigv4.CodeSignatureDoesNotMatch:
			return l.keyReason(ctx, c.key, "signature does not match (wrong secret or signing method)")
		case sigv4.CodeRequestTimeTooSkewed:
			return "request time too far from the server's clock"
		}
		if se.Message == "Request has expired" {
			return "presigned URL expired"
		}
		return se.Code + ": " + se.Message
	}
	msg := strings.TrimPrefix(err.Error(), access.ErrBadCredentials.Error()+": ")
	switch {
	case c.asLogin:
		return "a token given as the login: it goes in the password, with the user's name as the login"
	case c.token != "" && strings.HasPrefix(msg, "unknown token or wrong secret"):
		return l.tokenReason(ctx, c.token)
	case c.key != "" && strings.HasPrefix(msg, "unknown access key or wrong secret"):
		return l.keyReason(ctx, c.key, "wrong secret")
	}
	return msg
}

// keyReason tells an unknown or disabled key from a known one, for which
// it returns otherwise.
func (l *authLog) keyReason(ctx context.Context, id, otherwise string) string {
	if id == "" {
		return otherwise
	}
	k, err := l.meta.AccessKey(ctx, id)
	switch {
	case errors.Is(err, meta.ErrNoSuchAccessKey):
		return "unknown access key (never issued, or deleted)"
	case err != nil:
		return otherwise
	case !k.Enabled:
		return "access key disabled"
	}
	return otherwise
}

// tokenReason tells an unknown (revoked) token from a wrong secret.
func (l *authLog) tokenReason(ctx context.Context, id string) string {
	_, err := l.meta.Token(ctx, id)
	if errors.Is(err, meta.ErrNoSuchToken) {
		return "unknown token (revoked, or never issued)"
	}
	return "wrong token secret"
}
