package fastlane

import (
	"bytes"
	"net/textproto"
)

// head is a parsed request head. Its byte slices alias the connection's
// read buffer and are valid until the next read.
type head struct {
	method string // "GET" or "HEAD"
	target []byte // origin-form request target
	host   []byte
	close  bool // Connection: close
	fields []field
	size   int // bytes of the head, blank line included
}

type field struct{ name, value []byte }

// verdict is parseHead's answer.
type verdict int

const (
	needMore verdict = iota // no whole head yet, and nothing seen rules it out
	fast                    // a whole head this package serves itself
	handOff                 // net/http must serve this request (and the connection)
)

// maxFields bounds the header lines of a request served here.
const maxFields = 64

// parseHead parses the request head at the start of b into h. It is
// deliberately narrow: an HTTP/1.1 GET or HEAD with an origin-form target
// of characters that need no escaping, no body, no Expect or Upgrade, one
// Host, and CRLF line ends. Anything else, including anything malformed,
// is handOff, so net/http gives it the answer it always gives: this
// parser never produces an error of its own. It decides handOff as soon
// as the bytes seen rule the request out.
func parseHead(b []byte, h *head) verdict {
	h.fields = h.fields[:0]
	h.host, h.close = nil, false
	var rest []byte
	switch {
	case bytes.HasPrefix(b, getSP):
		h.method, rest = "GET", b[len(getSP):]
	case bytes.HasPrefix(b, headSP):
		h.method, rest = "HEAD", b[len(headSP):]
	case bytes.HasPrefix(getSP, b) || bytes.HasPrefix(headSP, b):
		return needMore
	default:
		return handOff
	}
	// The request target.
	if len(rest) == 0 {
		return needMore
	}
	if rest[0] != '/' {
		return handOff
	}
	i := 0
	for i < len(rest) && pathChar[rest[i]] {
		i++
	}
	if i == len(rest) {
		return needMore
	}
	if rest[i] != ' ' {
		return handOff
	}
	h.target, rest = rest[:i], rest[i+1:]
	// The version, then the header lines.
	if len(rest) < len(http11) {
		if bytes.HasPrefix(http11, rest) {
			return needMore
		}
		return handOff
	}
	if !bytes.HasPrefix(rest, http11) {
		return handOff
	}
	rest = rest[len(http11):]
	hosts := 0
	for {
		if len(rest) < 2 {
			if len(rest) == 0 || rest[0] == '\r' {
				return needMore
			}
		}
		if rest[0] == '\r' {
			if rest[1] != '\n' {
				return handOff
			}
			rest = rest[2:]
			break
		}
		f, n, v := parseField(rest)
		if v != fast {
			return v
		}
		rest = rest[n:]
		if len(h.fields) == maxFields {
			return handOff
		}
		switch special(f.name) {
		case specialHost:
			hosts++
			if hosts > 1 || !validHost(f.value) {
				return handOff
			}
			h.host = f.value
			continue // net/http moves Host out of the header map
		case specialBody:
			return handOff
		case specialConnection:
			switch {
			case asciiEqualFold(f.value, "close"):
				h.close = true
			case asciiEqualFold(f.value, "keep-alive"):
			default:
				return handOff
			}
		}
		h.fields = append(h.fields, f)
	}
	if hosts == 0 {
		return handOff
	}
	h.size = len(b) - len(rest)
	return fast
}

// parseField parses one "Name: value\r\n" line at the start of b and
// returns it with its length.
func parseField(b []byte) (field, int, verdict) {
	i := 0
	for i < len(b) && tokenChar[b[i]] {
		i++
	}
	if i == len(b) {
		return field{}, 0, needMore
	}
	if i == 0 || b[i] != ':' {
		return field{}, 0, handOff
	}
	name := b[:i]
	i++
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	start := i
	for i < len(b) && b[i] != '\r' {
		if c := b[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return field{}, 0, handOff
		}
		i++
	}
	if i+1 >= len(b) {
		return field{}, 0, needMore
	}
	if b[i+1] != '\n' {
		return field{}, 0, handOff
	}
	end := i
	for end > start && (b[end-1] == ' ' || b[end-1] == '\t') {
		end--
	}
	return field{name: name, value: b[start:end]}, i + 2, fast
}

const (
	specialNone = iota
	specialHost
	specialBody // a header that brings or announces a body, or changes protocol
	specialConnection
)

func special(name []byte) int {
	switch len(name) {
	case 4:
		if asciiEqualFold(name, "host") {
			return specialHost
		}
	case 6:
		if asciiEqualFold(name, "expect") {
			return specialBody
		}
	case 7:
		if asciiEqualFold(name, "upgrade") || asciiEqualFold(name, "trailer") {
			return specialBody
		}
	case 10:
		if asciiEqualFold(name, "connection") {
			return specialConnection
		}
	case 14:
		if asciiEqualFold(name, "content-length") {
			return specialBody
		}
	case 17:
		if asciiEqualFold(name, "transfer-encoding") {
			return specialBody
		}
	}
	return specialNone
}

// validHost accepts a conservative subset of what net/http accepts in
// Host: a name or address with an optional port.
func validHost(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	for _, c := range v {
		if !hostChar[c] {
			return false
		}
	}
	return true
}

// asciiEqualFold reports whether b equals the lower-case ASCII s, ignoring case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

var (
	getSP  = []byte("GET ")
	headSP = []byte("HEAD ")
	http11 = []byte("HTTP/1.1\r\n")

	// pathChar holds the bytes net/url leaves unescaped in a path, so a
	// target made only of them has URL.Path == target and no RawPath.
	pathChar = charSet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~/$&+,:;=@")
	// tokenChar holds RFC 9110's tchar: the bytes of a header name.
	tokenChar = charSet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~")
	hostChar  = charSet("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._:[]")
)

func charSet(s string) (t [256]bool) {
	for i := range len(s) {
		t[s[i]] = true
	}
	return t
}

// headerNames interns the canonical form of the header names clients
// send most, so they cost no allocation.
var headerNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{
		"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control",
		"Connection", "Cookie", "If-Match", "If-Modified-Since", "If-None-Match", "If-Range",
		"If-Unmodified-Since", "Pragma", "Range", "Referer", "User-Agent", "X-Forwarded-For", "X-Forwarded-Proto",
		"X-Real-Ip", "X-Amz-Date", "X-Amz-Content-Sha256", "X-Amz-Security-Token",
		"X-Amz-User-Agent", "Amz-Sdk-Invocation-Id", "Amz-Sdk-Request", "Keep-Alive",
	} {
		m[bytesLower(n)] = textproto.CanonicalMIMEHeaderKey(n)
	}
	return m
}()

func bytesLower(s string) string { return string(bytes.ToLower([]byte(s))) }

// canonicalName returns the canonical form of a header name, and whether
// it is a common one, interned.
func canonicalName(name []byte) (string, bool) {
	var low [32]byte
	if len(name) <= len(low) {
		for i, c := range name {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			low[i] = c
		}
		if s, ok := headerNames[string(low[:len(name)])]; ok {
			return s, true
		}
	}
	return textproto.CanonicalMIMEHeaderKey(string(name)), false
}
