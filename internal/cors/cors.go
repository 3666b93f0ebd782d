// Package cors keeps buckets' CORS configurations (S3's PutBucketCors,
// GetBucketCors, DeleteBucketCors) and answers browsers with them: the
// preflight OPTIONS request, and the Access-Control-* headers of the
// requests that follow, so that a web page on another origin may read a
// cache (a narinfo, a NAR, a listing) as the bucket's owner allows.
//
// CORS only tells browsers what they may show a page; who may read or
// write what is still decided by the bucket and IAM policies, on every
// request. The rules are S3's: the first rule whose AllowedOrigin (one
// "*" wildcard at most), AllowedMethod and AllowedHeader (each header a
// preflight names) all match is the rule that answers; a request that
// names no Access-Control-Request-Method is matched by its own method.
// Unlike S3, it never sends Access-Control-Allow-Credentials (see
// setCommon).
package cors

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Limits of a configuration, as S3's.
const (
	MaxRules = 100
	MaxSize  = 64 << 10 // bytes of XML
)

// Rule is one CORSRule.
type Rule struct {
	ID             string   `xml:"ID,omitempty"`
	AllowedHeaders []string `xml:"AllowedHeader,omitempty"`
	AllowedMethods []string `xml:"AllowedMethod"`
	AllowedOrigins []string `xml:"AllowedOrigin"`
	ExposeHeaders  []string `xml:"ExposeHeader,omitempty"`
	MaxAgeSeconds  *int     `xml:"MaxAgeSeconds,omitempty"`
}

// Config is a bucket's CORSConfiguration.
type Config struct {
	XMLName xml.Name `xml:"CORSConfiguration"`
	Rules   []Rule   `xml:"CORSRule"`
}

// Error is a configuration S3 would refuse: Code is its S3 error code.
type Error struct{ Code, Message string }

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func invalid(format string, a ...any) error {
	return &Error{Code: "InvalidRequest", Message: fmt.Sprintf(format, a...)}
}

var errMalformed = &Error{Code: "MalformedXML", Message: "The XML you provided was not well-formed or did not validate against our published schema."}

// methods are the methods a rule may allow.
var methods = map[string]bool{"GET": true, "PUT": true, "HEAD": true, "POST": true, "DELETE": true}

// Parse reads and checks a CORSConfiguration document.
func Parse(doc []byte) (*Config, error) {
	if len(doc) > MaxSize {
		return nil, &Error{Code: "MaxMessageLengthExceeded", Message: "Your request was too big."}
	}
	var c Config
	if err := xml.Unmarshal(doc, &c); err != nil || c.XMLName.Local != "CORSConfiguration" {
		return nil, errMalformed
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return &c, nil
}

// check checks the rules, as S3 does.
func (c *Config) check() error {
	if len(c.Rules) == 0 {
		return errMalformed
	}
	if len(c.Rules) > MaxRules {
		return invalid("The number of CORS rules should not exceed allowed limit of %d rules.", MaxRules)
	}
	for i := range c.Rules {
		if err := c.Rules[i].check(); err != nil {
			return err
		}
	}
	return nil
}

func (r *Rule) check() error {
	if len(r.AllowedMethods) == 0 || len(r.AllowedOrigins) == 0 {
		return errMalformed
	}
	if len(r.ID) > 255 {
		return invalid("The ID of a CORS rule must be no longer than 255 characters.")
	}
	for i, m := range r.AllowedMethods {
		m = strings.TrimSpace(m)
		if !methods[m] {
			return invalid("Found unsupported HTTP method in CORS config. Unsupported method is %s", m)
		}
		r.AllowedMethods[i] = m
	}
	for i, o := range r.AllowedOrigins {
		o = strings.TrimSpace(o) // an empty one, which S3 takes, matches no origin
		if strings.Count(o, "*") > 1 {
			return invalid("AllowedOrigin %q can not have more than one wildcard.", o)
		}
		r.AllowedOrigins[i] = o
	}
	for i, h := range r.AllowedHeaders {
		h = strings.TrimSpace(h)
		if strings.Count(h, "*") > 1 {
			return invalid("AllowedHeader %q can not have more than one wildcard.", h)
		}
		r.AllowedHeaders[i] = h
	}
	for i, h := range r.ExposeHeaders {
		h = strings.TrimSpace(h)
		if h == "" || strings.Contains(h, "*") || strings.ContainsAny(h, " \t\r\n,") {
			return invalid("ExposeHeader %q contains an invalid character.", h)
		}
		r.ExposeHeaders[i] = h
	}
	if r.MaxAgeSeconds != nil && *r.MaxAgeSeconds < 0 {
		return invalid("MaxAgeSeconds must not be negative.")
	}
	return nil
}

// Marshal writes the configuration as GetBucketCors answers it.
func (c *Config) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	out := struct {
		XMLName xml.Name `xml:"CORSConfiguration"`
		NS      string   `xml:"xmlns,attr"`
		Rules   []Rule   `xml:"CORSRule"`
	}{NS: "http://s3.amazonaws.com/doc/2006-03-01/", Rules: c.Rules}
	if err := xml.NewEncoder(&b).Encode(out); err != nil {
		panic(err) // the types above always encode
	}
	return b.Bytes()
}

// match reports whether s matches pattern, which may hold one "*"
// standing for any run of characters (none included). fold compares
// without case.
func match(pattern, s string, fold bool) bool {
	if fold {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	pre, suf, wild := strings.Cut(pattern, "*")
	if !wild {
		return pattern == s
	}
	return len(s) >= len(pre)+len(suf) && strings.HasPrefix(s, pre) && strings.HasSuffix(s, suf)
}

// Match returns the first rule that allows origin to make a request of
// method naming the headers given (a preflight's
// Access-Control-Request-Headers), or nil.
func (c *Config) Match(origin, method string, headers []string) *Rule {
	for i := range c.Rules {
		if r := &c.Rules[i]; r.allows(origin, method, headers) {
			return r
		}
	}
	return nil
}

func (r *Rule) allows(origin, method string, headers []string) bool {
	if !anyMatch(r.AllowedOrigins, origin, false) || !anyMatch(r.AllowedMethods, method, false) {
		return false
	}
	for _, h := range headers {
		if !anyMatch(r.AllowedHeaders, h, true) {
			return false
		}
	}
	return true
}

// anyMatch reports whether s matches one of patterns (see match; a
// method has no wildcard, so it matches itself only).
func anyMatch(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if match(p, s, fold) {
			return true
		}
	}
	return false
}

// allowOrigin is what Access-Control-Allow-Origin says: "*" when the
// rule allows every origin, else the origin itself.
func (r *Rule) allowOrigin(origin string) string {
	for _, o := range r.AllowedOrigins {
		if o == "*" {
			return "*"
		}
	}
	return origin
}

// vary is what every answer of a bucket with a configuration names, with
// an Origin or without: its CORS headers depend on them, so a cache (a
// browser's own too) must not answer a cross-origin request with an
// answer to another, or to a request without an Origin (a navigation,
// nix), which lacks them (Fetch, "CORS protocol and HTTP caches").
var vary = []string{"Origin, Access-Control-Request-Headers, Access-Control-Request-Method"}

// Annotate sets the Vary and Access-Control-* headers of a request (not a
// preflight) to a bucket with configuration c: Vary always, the
// Access-Control-* headers when it came with an Origin (origin, "" for
// none) and a rule of c allows it. The
// method matched is the request's Access-Control-Request-Method if it
// sent one, else its own method; the headers, those its
// Access-Control-Request-Headers names (as S3 does: a GET naming a header
// no rule allows gets no CORS headers), never those it sends. It returns
// whether a rule matched.
func (c *Config) Annotate(h http.Header, r *http.Request, origin string) bool {
	method := r.Header.Get("Access-Control-Request-Method")
	if method == "" {
		method = r.Method
	}
	h["Vary"] = vary
	if origin == "" {
		return false
	}
	rule := c.Match(origin, method, requestHeaders(r))
	if rule == nil {
		return false
	}
	rule.setCommon(h, origin)
	return true
}

// setCommon sets the headers of every answer a rule allows, preflight or
// not. It never says Access-Control-Allow-Credentials, which S3 sends for
// a named origin: AWS has no credentials a browser keeps and sends by
// itself, nixbucket has (the Basic login it asks for on a private
// bucket's object), and with that header a page on a matching origin
// could read, or write, a private bucket as any visitor logged in to it.
// A page reads with the credentials it sends itself (an Authorization
// header the rule allows, a presigned URL), or as anyone.
func (r *Rule) setCommon(h http.Header, origin string) {
	h.Set("Access-Control-Allow-Origin", r.allowOrigin(origin))
	h.Set("Access-Control-Allow-Methods", strings.Join(r.AllowedMethods, ", "))
	if len(r.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(r.ExposeHeaders, ", "))
	}
	if r.MaxAgeSeconds != nil { // S3 sends it on every answer a rule allows, not only preflights
		h.Set("Access-Control-Max-Age", strconv.Itoa(*r.MaxAgeSeconds))
	}
}

// Preflight errors, as S3 words them.
var (
	ErrNoOrigin  = &Error{Code: "BadRequest", Message: "Insufficient information. Origin request header needed."}
	ErrNoMethod  = &Error{Code: "AccessForbidden", Message: "CORSResponse: Invalid Access-Control-Request-Method header."}
	ErrDisabled  = &Error{Code: "AccessForbidden", Message: "CORSResponse: CORS is not enabled for this bucket."}
	ErrForbidden = &Error{Code: "AccessForbidden", Message: "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."}
)

// Preflight answers an OPTIONS request against c (nil: the bucket has no
// configuration): on success it sets the headers of a 200 and returns
// nil, else one of the errors above.
func Preflight(c *Config, h http.Header, r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return ErrNoOrigin
	}
	method := r.Header.Get("Access-Control-Request-Method")
	if method == "" || !methods[method] {
		return ErrNoMethod
	}
	if c == nil {
		return ErrDisabled
	}
	headers := requestHeaders(r)
	h["Vary"] = vary
	rule := c.Match(origin, method, headers)
	if rule == nil {
		return ErrForbidden
	}
	rule.setCommon(h, origin)
	if len(headers) > 0 {
		h.Set("Access-Control-Allow-Headers", strings.ToLower(strings.Join(headers, ", "))) // as S3 echoes them
	}
	return nil
}

// requestHeaders returns the header names r's
// Access-Control-Request-Headers lists.
func requestHeaders(r *http.Request) []string {
	var headers []string
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				headers = append(headers, f)
			}
		}
	}
	return headers
}

// IsError reports whether err is a configuration or preflight Error.
func IsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
