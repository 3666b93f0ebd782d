package forwarded

import (
	"net/netip"
	"strings"
)

// hop is one proxy's word on who connected to it: an entry of
// X-Forwarded-For, or an element of Forwarded with its proto=.
type hop struct {
	addr  netip.Addr // the zero Addr when obfuscated, "unknown" or unreadable
	proto string     // Forwarded's proto=; "" when not given (and in X-Forwarded-For)
}

// xffHops reads X-Forwarded-For's values, left to right.
func xffHops(values []string) []hop {
	var hops []hop
	for _, v := range values {
		for e := range strings.SplitSeq(v, ",") {
			a, _ := addrOf(strings.TrimSpace(e))
			hops = append(hops, hop{addr: a})
		}
	}
	return hops
}

// forwardedHops reads Forwarded's values (RFC 7239), left to right: one
// hop per element, elements separated by commas within a value and by
// the values themselves. An element that does not parse, repeats a
// parameter, or has no for= of an address (for=unknown, an obfuscated
// for=_hidden) is a hop without an address, which ends the walk there.
//
// No parameter value this package reads (an address and port, a scheme)
// holds a comma or a semicolon, so elements and parameters are split at
// every one, quoted or not: a client's unbalanced quote at the left of
// the header cannot swallow the elements proxies appended after it.
func forwardedHops(values []string) []hop {
	var hops []hop
	for _, v := range values {
		for e := range strings.SplitSeq(v, ",") {
			hops = append(hops, forwardedElement(e))
		}
	}
	return hops
}

// forwardedElement reads one element: pairs "name=value" separated by
// semicolons, names case-insensitive, values tokens or quoted strings.
func forwardedElement(e string) hop {
	var h hop
	seen := map[string]bool{}
	for pair := range strings.SplitSeq(e, ";") {
		if pair = strings.TrimSpace(pair); pair == "" {
			continue // the grammar allows empty pairs
		}
		name, value, ok := strings.Cut(pair, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" || seen[name] {
			return hop{}
		}
		seen[name] = true
		value, ok = unquote(strings.TrimSpace(value))
		if !ok {
			return hop{}
		}
		switch name {
		case "for":
			h.addr, _ = nodeAddr(value)
		case "proto":
			h.proto = value
		}
	}
	return h
}

// unquote reads a token or a quoted string with its backslash escapes.
func unquote(v string) (string, bool) {
	if !strings.HasPrefix(v, `"`) {
		return v, v != "" && !strings.ContainsAny(v, "\" \t\\")
	}
	if len(v) < 2 || !strings.HasSuffix(v, `"`) {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		c := v[i]
		switch {
		case c == '\\' && i+1 < len(v)-1:
			i++
			c = v[i]
		case c == '\\', c == '"':
			return "", false
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// nodeAddr reads a for= node: "IPv4", "IPv4:port", "[IPv6]" or
// "[IPv6]:port", the port digits or obfuscated ("_abc"). "unknown" and
// obfuscated identifiers ("_hidden") are no address.
func nodeAddr(node string) (netip.Addr, bool) {
	host := node
	if rest, ok := strings.CutPrefix(node, "["); ok {
		h, port, ok := strings.Cut(rest, "]")
		if !ok || port != "" && !validPort(strings.TrimPrefix(port, ":")) || port != "" && port[0] != ':' {
			return netip.Addr{}, false
		}
		host = h
	} else if h, port, ok := strings.Cut(node, ":"); ok && !strings.Contains(port, ":") {
		if !validPort(port) {
			return netip.Addr{}, false
		}
		host = h
	}
	a, err := netip.ParseAddr(host)
	return a, err == nil
}

// validPort is a node's port: digits, or an obfuscated "_" identifier.
func validPort(p string) bool {
	if p == "" {
		return false
	}
	if p[0] == '_' {
		return true
	}
	return strings.TrimLeft(p, "0123456789") == "" && len(p) <= 5
}
