package target

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Kind is what a Failure is about.
type Kind int

// Kinds of Failure. Each is the same for every request to the cache, so a
// push stops at the first instead of repeating it for every path.
const (
	// NoCredentials: the request carried none and the cache wants some.
	NoCredentials Kind = iota + 1
	// BadCredentials: the cache does not know the key or token, or the
	// secret is wrong (servers answer both alike, on purpose).
	BadCredentials
	// Denied: the credentials are good, and a policy refuses the request.
	Denied
	// NoBucket: the bucket (or the cache's path) does not exist.
	NoBucket
)

// Failure is a refusal that no other request to the same cache would
// escape: missing or wrong credentials, a policy's denial, or a missing
// bucket. Its message is one line that says what is wrong and how to fix
// it, without the server's raw answer.
type Failure struct {
	Kind Kind
	Msg  string
	Err  error // the underlying error, for errors.Is/As; not in the message
}

func (f *Failure) Error() string { return f.Msg }
func (f *Failure) Unwrap() error { return f.Err }

// IsFailure reports whether err is, or wraps, a Failure.
func IsFailure(err error) bool {
	var f *Failure
	return errors.As(err, &f)
}

// serverError is what an error answer says, from its S3 XML, its
// nixbucket plain text ("403 AccessDenied: message") or its headers.
type serverError struct {
	status  int
	code    string // "AccessDenied", "NoSuchBucket", …; "" when unknown
	message string // the server's message, one line, never markup
}

// readServerError reads an error answer's code and message. The body is
// parsed, never quoted: S3 XML gives Code and Message, nixbucket's plain
// text "STATUS CODE: MESSAGE" and its X-Nixbucket-Error header give the
// same; anything else (HTML pages, other servers' text) gives its first
// line only if it has no markup.
func readServerError(resp *http.Response) serverError {
	e := serverError{status: resp.StatusCode, code: errorCode(resp.Header.Get("X-Nixbucket-Error"))}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	s := strings.TrimSpace(string(b))
	switch {
	case s == "":
	case strings.HasPrefix(s, "<"):
		var doc struct {
			Code    string
			Message string
		}
		if xml.Unmarshal(b, &doc) == nil {
			if c := errorCode(doc.Code); c != "" {
				e.code = c
			}
			if !strings.ContainsAny(doc.Message, "<>") {
				e.message = oneLine(doc.Message)
			}
		}
	default:
		line, _, _ := strings.Cut(s, "\n")
		prefix := fmt.Sprintf("%d ", resp.StatusCode)
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			if code, msg, ok := strings.Cut(rest, ": "); ok && !strings.Contains(code, " ") {
				if e.code == "" {
					e.code = errorCode(code)
				}
				line = msg
			}
		}
		if !strings.ContainsAny(line, "<>") && !strings.Contains(resp.Header.Get("Content-Type"), "html") {
			e.message = oneLine(line)
		}
	}
	return e
}

// oneLine trims s to one line of at most 200 bytes of Printable text.
func oneLine(s string) string {
	s = Printable(s)
	if len(s) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// Printable makes s, text that a server or a library may have put
// together from a server's answer, safe to print on a terminal as one
// line: control characters (C0, DEL and C1, with which every escape
// sequence starts, 7-bit ESC or 8-bit CSI alike), the bidirectional
// overrides that reorder what is shown, and invalid UTF-8 become spaces,
// runs of white space one space. Every error push prints goes through it.
func Printable(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if !printable(r) {
			return ' '
		}
		return r
	}, s)), " ")
}

// printable reports whether r may reach a terminal as it is.
func printable(r rune) bool {
	switch {
	case r < ' ', r == 0x7f, r >= 0x80 && r < 0xa0, r == utf8.RuneError:
		return false
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi embeddings, overrides, isolates
		return false
	}
	return true
}

// errorCode is code if it looks like an error code (letters, digits,
// '.', '-' and '_', as S3's and nixbucket's are), else "": a code is
// printed as it is.
func errorCode(code string) string {
	if len(code) > 64 {
		return ""
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return ""
		}
	}
	return code
}

// String renders the answer for messages: "403 AccessDenied: Access Denied".
func (e serverError) String() string {
	s := fmt.Sprint(e.status)
	if e.code != "" {
		s += " " + e.code
	} else if t := http.StatusText(e.status); t != "" {
		s += " " + t
	}
	if e.message != "" && e.message != e.code && e.message != http.StatusText(e.status) {
		s += ": " + e.message
	}
	return s
}

// badCredentialCodes are the S3 codes for an unknown key or a wrong secret.
var badCredentialCodes = map[string]bool{
	"InvalidAccessKeyId":    true,
	"SignatureDoesNotMatch": true,
	"InvalidToken":          true,
	"ExpiredToken":          true,
	"TokenRefreshRequired":  true,
	"InvalidSecurity":       true,
}

// aboutCredentials reports whether an AccessDenied answer is about the
// credentials rather than a policy: nixbucket refuses an unknown key, a
// wrong secret and a bad, revoked or expired token with AccessDenied and a
// message saying so, where a policy's denial says "Access Denied".
func (e serverError) aboutCredentials() bool {
	if badCredentialCodes[e.code] {
		return true
	}
	m := strings.ToLower(e.message)
	for _, w := range []string{"wrong secret", "token", "credentials", "access key", "signature"} {
		if strings.Contains(m, w) {
			return true
		}
	}
	return false
}

// codeNotACache is nixbucket's answer (400, since 404 would be taken for
// a cache to create) to a binary-cache read of nix-cache-info at a URL that
// is no cache: the server's root, or a bucket that does not exist. Its
// message names the caches the caller may read.
const codeNotACache = "XNixbucketNotACache"

// httpFailure classifies an HTTP cache's refusal of method on key, or
// returns nil when it is none of the Failure kinds (or a read's 403 or
// 404, which mean "missing" as in Nix).
func (t *httpTarget) httpFailure(method, key string, e serverError) *Failure {
	read := method == http.MethodGet || method == http.MethodHead
	what := fmt.Sprintf("%s %s: %s", method, key, e)
	switch {
	case e.status == http.StatusUnauthorized && t.auth == "",
		e.status == http.StatusForbidden && t.auth == "" && !read:
		return &Failure{Kind: NoCredentials, Msg: fmt.Sprintf(
			"no credentials were sent to %s (%s): add a netrc line \"machine %s login NAME password SECRET\" to %s%s "+
				"(nixbucket token create --user NAME makes a token for it), or pass --token-file, or push to %s",
			t.base, what, t.host(), t.netrcName(), netrcMiss(t.netrc, t.host()), t.s3Hint())}
	case e.status == http.StatusForbidden && strings.Contains(e.message, "token") && strings.Contains(e.message, "expired"):
		where := "pass it instead"
		if !strings.HasPrefix(t.auth, "Bearer ") {
			where = "put it in " + t.netrcName() + " in place of the old one"
		}
		return &Failure{Kind: BadCredentials, Msg: fmt.Sprintf(
			"%s refused %s: the token has expired (%s); make a new one (nixbucket token create --user %s) and %s",
			t.base, t.how, what, t.login(), where)}
	case e.status == http.StatusUnauthorized,
		e.status == http.StatusForbidden && e.aboutCredentials():
		return &Failure{Kind: BadCredentials, Msg: fmt.Sprintf(
			"%s refused %s: the key or token is unknown or its secret is wrong (%s); check them%s",
			t.base, t.how, what, t.credsHint())}
	case e.status == http.StatusForbidden && !read:
		return &Failure{Kind: Denied, Msg: fmt.Sprintf(
			"access denied: %s may not write to %s (%s): grant s3:PutObject on arn:aws:s3:::%s/* in the user's or token's policy, or in the bucket policy",
			t.how, t.base, what, t.bucket())}
	case (e.status == http.StatusNotFound && e.code == "NoSuchBucket" || e.code == codeNotACache) && t.bucket() == "BUCKET":
		return &Failure{Kind: NoBucket, Msg: fmt.Sprintf(
			"%s names no bucket (%s): a nixbucket cache's URL is %s/BUCKET, such as %s/nix-cache (nixbucket bucket list shows them)",
			t.base, what, strings.TrimSuffix(t.base, "/"), strings.TrimSuffix(t.base, "/"))}
	case e.status == http.StatusNotFound && (e.code == "NoSuchBucket" || !read), e.code == codeNotACache:
		return &Failure{Kind: NoBucket, Msg: fmt.Sprintf(
			"the cache %s does not exist (%s): create the bucket first (nixbucket bucket create %s, or aws s3 mb s3://%s), or check the URL's path",
			t.base, what, t.bucket(), t.bucket())}
	}
	return nil
}

// login is the user name of the Basic credentials sent, for messages.
func (t *httpTarget) login() string {
	r := http.Request{Header: http.Header{"Authorization": {t.auth}}}
	if login, _, ok := r.BasicAuth(); ok && login != "" {
		return Printable(login)
	}
	return "NAME"
}

// host is the cache's host name, as netrc files name it.
func (t *httpTarget) host() string {
	if u, err := url.Parse(t.base); err == nil {
		return u.Hostname()
	}
	return "HOST"
}

// bucket guesses the bucket from the cache's URL: its first path segment
// (path-style addressing, as nixbucket's banner prints it).
func (t *httpTarget) bucket() string {
	if u, err := url.Parse(t.base); err == nil {
		if b, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/"); b != "" {
			return b
		}
	}
	return "BUCKET"
}

// s3Hint is the s3:// URL that reaches the same cache with AWS credentials.
func (t *httpTarget) s3Hint() string {
	u, err := url.Parse(t.base)
	if err != nil {
		return "s3://BUCKET?endpoint=HOST"
	}
	return fmt.Sprintf("'s3://%s?endpoint=%s&scheme=%s' with AWS credentials", t.bucket(), u.Host, u.Scheme)
}

// netrcName names the netrc file push read, for messages.
func (t *httpTarget) netrcName() string {
	switch {
	case t.netrc != "":
		return t.netrc
	case envOr("NETRC", "") != "":
		return "$NETRC (" + envOr("NETRC", "") + ")"
	}
	return "~/.netrc (or a file passed with --netrc-file)"
}

// credsHint says where to look for the credentials that were refused.
func (t *httpTarget) credsHint() string {
	if strings.HasPrefix(t.auth, "Bearer ") {
		return " (a revoked or expired token needs a new one: nixbucket token create)"
	}
	return " in " + t.netrcName()
}
