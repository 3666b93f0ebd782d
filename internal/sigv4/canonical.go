package sigv4

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

const upperHex = "0123456789ABCDEF"

// unreserved reports whether AWS's UriEncode leaves c as it is.
func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// appendURIEncode appends s encoded as AWS's UriEncode does: unreserved
// bytes stay, '/' stays when keepSlash, every other byte becomes %XX with
// uppercase hex.
func appendURIEncode(b []byte, s string, keepSlash bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || c == '/' && keepSlash {
			b = append(b, c)
			continue
		}
		b = append(b, '%', upperHex[c>>4], upperHex[c&15])
	}
	return b
}

// uriEncode is appendURIEncode for a string; it returns s itself when
// nothing needs escaping.
func uriEncode(s string, keepSlash bool) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !unreserved(c) && (c != '/' || !keepSlash) {
			return string(appendURIEncode([]byte(s[:i]), s[i:], keepSlash))
		}
	}
	return s
}

// queryPair is one "key=value" (or bare "key") of a raw query string.
type queryPair struct {
	rawKey, rawValue string // as sent
	key, value       string // decoded as a form (so '+' is a space)
	hasEq            bool   // "key=" rather than "key"
}

// parseQuery splits a raw query string. Unlike url.ParseQuery it keeps ';'
// inside values, keeps the raw forms (SigV2 needs them) and fails on a bad
// percent escape instead of dropping the pair.
func parseQuery(raw string) ([]queryPair, error) {
	var pairs []queryPair
	for raw != "" {
		var seg string
		seg, raw, _ = strings.Cut(raw, "&")
		if seg == "" {
			continue
		}
		p := queryPair{}
		p.rawKey, p.rawValue, p.hasEq = strings.Cut(seg, "=")
		var err error
		if p.key, err = url.QueryUnescape(p.rawKey); err != nil {
			return nil, newError(CodeInvalidArgument, "The query string contains an invalid percent-encoding: "+strconv.Quote(p.rawKey))
		}
		if p.value, err = url.QueryUnescape(p.rawValue); err != nil {
			return nil, newError(CodeInvalidArgument, "The query string contains an invalid percent-encoding: "+strconv.Quote(p.rawValue))
		}
		pairs = append(pairs, p)
	}
	return pairs, nil
}

// queryGet returns the decoded value of the first pair named key.
func queryGet(pairs []queryPair, key string) (string, bool) {
	for _, p := range pairs {
		if p.key == key {
			return p.value, true
		}
	}
	return "", false
}

// queryAuthKind scans a raw query for the parameters that mark a presigned
// request, without decoding or allocating.
func queryAuthKind(raw string) (v4, v2 bool) {
	for raw != "" {
		var seg string
		seg, raw, _ = strings.Cut(raw, "&")
		k, _, _ := strings.Cut(seg, "=")
		switch k {
		case "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature":
			v4 = true
		case "AWSAccessKeyId", "Signature":
			v2 = true
		}
	}
	return v4, v2
}

// appendCanonicalQuery appends the SigV4 canonical query string: every pair
// decoded then UriEncoded (bare keys get "="), sorted by encoded key and then
// encoded value. X-Amz-Signature is left out for presigned requests.
func appendCanonicalQuery(b []byte, pairs []queryPair, presign bool) []byte {
	if len(pairs) == 0 {
		return b
	}
	type enc struct{ k, v string }
	var arr [16]enc
	encoded := arr[:0]
	for _, p := range pairs {
		if presign && p.key == "X-Amz-Signature" {
			continue
		}
		encoded = append(encoded, enc{uriEncode(p.key, false), uriEncode(p.value, false)})
	}
	slices.SortFunc(encoded, func(x, y enc) int {
		if c := strings.Compare(x.k, y.k); c != 0 {
			return c
		}
		return strings.Compare(x.v, y.v)
	})
	for i, e := range encoded {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, e.k...)
		b = append(b, '=')
		b = append(b, e.v...)
	}
	return b
}

// appendTrimmed appends a header value with leading and trailing blanks
// removed and each inner run of spaces collapsed to one, like AWS's Trimall.
func appendTrimmed(b []byte, v string) []byte {
	v = strings.Trim(v, " \t")
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if !space {
				b = append(b, ' ')
			}
			space = true
			continue
		}
		space = false
		b = append(b, c)
	}
	return b
}

// headerValues returns the values of the header whose lowercase name is
// name. It canonicalises the name on the stack to avoid the allocation of
// textproto.CanonicalMIMEHeaderKey, and falls back to a case-insensitive scan
// for names Go leaves uncanonicalised.
func headerValues(h http.Header, name string) []string {
	var buf [64]byte
	if len(name) <= len(buf) {
		k := buf[:len(name)]
		upper := true
		for i := 0; i < len(name); i++ {
			c := name[i]
			if upper && 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			} else if !upper && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			k[i] = c
			upper = c == '-'
		}
		if v, ok := h[string(k)]; ok {
			return v
		}
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// appendHeaderValue appends the canonical value of the signed header name.
// Go's server moves Host, Content-Length (for chunked requests) and
// Transfer-Encoding out of r.Header; they are rebuilt from the request.
func appendHeaderValue(b []byte, r *http.Request, name string) []byte {
	switch name {
	case "host":
		host := r.Host
		if host == "" && r.URL != nil {
			host = r.URL.Host
		}
		return appendTrimmed(b, host)
	case "content-length":
		if v := headerValues(r.Header, name); len(v) > 0 {
			return appendTrimmed(b, v[0])
		}
		if r.ContentLength >= 0 {
			return strconv.AppendInt(b, r.ContentLength, 10)
		}
		return b
	case "transfer-encoding":
		if v := headerValues(r.Header, name); len(v) > 0 {
			return appendJoined(b, v)
		}
		return appendJoined(b, r.TransferEncoding)
	}
	return appendJoined(b, headerValues(r.Header, name))
}

func appendJoined(b []byte, vals []string) []byte {
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendTrimmed(b, v)
	}
	return b
}

// appendCanonicalRequest appends the SigV4 canonical request of r. The path
// is the decoded path encoded again with UriEncode ('/' kept, no double
// encoding: S3's rule), or with asSent the path exactly as the client sent
// it (see sentPath). signedHeaders is the client's list, payload the value
// the client declared for x-amz-content-sha256.
func appendCanonicalRequest(b []byte, r *http.Request, asSent bool, pairs []queryPair, presign bool, signedHeaders, payload string) []byte {
	b = append(b, r.Method...)
	b = append(b, '\n')
	if asSent {
		b = append(b, sentPath(r)...)
	} else {
		path := r.URL.Path
		if path == "" {
			path = "/"
		}
		b = appendURIEncode(b, path, true)
	}
	b = append(b, '\n')
	b = appendCanonicalQuery(b, pairs, presign)
	b = append(b, '\n')
	for rest := signedHeaders; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, ";")
		b = append(b, name...)
		b = append(b, ':')
		b = appendHeaderValue(b, r, name)
		b = append(b, '\n')
	}
	b = append(b, '\n')
	b = append(b, signedHeaders...)
	b = append(b, '\n')
	b = append(b, payload...)
	return b
}

// sentPath returns the path of r as the client wrote it. curl signs that
// (CURLOPT_AWS_SIGV4 leaves an "s3" path as it is), and so does Nix ≥2.33,
// whose URLs keep ':' and '@' unescaped: its CA realisations,
// "realisations/sha256:…%21out.doi", only verify this way.
func sentPath(r *http.Request) string {
	if p := r.URL.EscapedPath(); p != "" {
		return p
	}
	return "/"
}

// pathSentOtherwise reports whether the client wrote r's path otherwise
// than S3's canonical encoding of it, so that a signature over the path as
// sent is worth trying.
func pathSentOtherwise(r *http.Request) bool {
	sent := sentPath(r)
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	return sent != uriEncode(path, true)
}
