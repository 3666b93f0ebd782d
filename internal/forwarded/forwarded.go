// Package forwarded gives a request the client address and scheme a
// reverse proxy the operator trusts saw (serve --trusted-proxies), so that
// the access log's remote address, aws:SourceIp and aws:SecureTransport in
// policies, the console's Secure cookie and the URLs it shows are the
// client's, not the proxy's.
//
// Only the connection's own peer decides whether the headers are read.
// The proxies' chain of addresses, X-Forwarded-For's entries or the
// standard Forwarded header's (RFC 7239) elements' for=, is walked from its
// right end (the entry the nearest proxy added) over the trusted proxies
// to the first address that is not one, so entries a client wrote itself,
// at the left, are never taken; an entry that is no address (garbage,
// for=unknown, an obfuscated for=_hidden) ends the walk at the last
// address read, a trusted proxy's. The scheme is the last
// X-Forwarded-Proto value, set by the nearest proxy, or the proto= of the
// Forwarded element where the walk stopped: the one written by the proxy
// the client reached.
//
// X-Forwarded-For and X-Forwarded-Proto win over Forwarded: a request
// carrying either is read from them alone, and Forwarded only when it
// carries neither. That is what nginx ($proxy_add_x_forwarded_for,
// real_ip_header) and HAProxy (option forwardfor) send and read by
// default, and such a proxy passes a Forwarded header a client wrote on
// untouched, so believing it would let clients choose their address. A
// proxy that sends only Forwarded (HAProxy's option forwarded) must
// remove the X-Forwarded-* headers clients send (HAProxy's option
// forwarded alone does not), for the same reason.
//
// From any other peer all of these headers are ignored, and a request
// carrying one is not a local caller (Local) even from loopback: a proxy
// on the same machine forwards strangers from loopback.
package forwarded

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies is the set of trusted proxies; nil trusts none.
type Proxies struct {
	nets []netip.Prefix
}

// Parse reads a comma-separated list of IP addresses and CIDR prefixes,
// such as "127.0.0.1, 10.0.0.0/8, ::1". An empty list is nil.
func Parse(list string) (*Proxies, error) {
	var p Proxies
	for f := range strings.SplitSeq(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, fmt.Errorf("%q is neither an IP address nor a CIDR prefix such as 10.0.0.0/8", f)
			}
			a = a.Unmap()
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		p.nets = append(p.nets, pfx.Masked())
	}
	if len(p.nets) == 0 {
		return nil, nil
	}
	return &p, nil
}

// String lists the prefixes, as Parse reads them.
func (p *Proxies) String() string {
	if p == nil {
		return ""
	}
	s := make([]string, len(p.nets))
	for i, n := range p.nets {
		s[i] = n.String()
	}
	return strings.Join(s, ",")
}

func (p *Proxies) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

type secureKey struct{}

// Wrap returns h behind the proxies: a request whose peer is one of them
// goes on with RemoteAddr set to the client's address (no port: the
// headers carry none) and, when the proxy says the client used https,
// Secure true. Other requests go on unchanged. A nil p returns h itself.
func (p *Proxies) Wrap(h http.Handler) http.Handler {
	if p == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, ok := addrOf(r.RemoteAddr)
		if !ok || !p.trusts(peer) {
			h.ServeHTTP(w, r)
			return
		}
		client, secure := p.client(peer, r.Header)
		ctx := r.Context()
		if secure {
			ctx = context.WithValue(ctx, secureKey{}, true)
		}
		r = r.WithContext(ctx) // a copy: the caller's request stays as it was
		r.RemoteAddr = client.String()
		h.ServeHTTP(w, r)
	})
}

// client reads the client's address and whether it came over https from
// X-Forwarded-For and X-Forwarded-Proto, or from Forwarded when neither of
// those is there (see the package doc).
func (p *Proxies) client(peer netip.Addr, h http.Header) (netip.Addr, bool) {
	xff, xfp := h["X-Forwarded-For"], h["X-Forwarded-Proto"]
	if len(xff) > 0 || len(xfp) > 0 {
		client, _ := p.walk(peer, xffHops(xff))
		return client, strings.EqualFold(lastValue(xfp), "https")
	}
	client, at := p.walk(peer, forwardedHops(h["Forwarded"]))
	return client, at != nil && strings.EqualFold(at.proto, "https")
}

// walk goes over hops from the right while the address so far is a
// trusted proxy, and returns the address it stopped at and the hop it
// read last (nil when it read none); a hop without an address ends the
// walk at the last good one.
func (p *Proxies) walk(peer netip.Addr, hops []hop) (netip.Addr, *hop) {
	client := peer.Unmap()
	var at *hop
	for i := len(hops) - 1; i >= 0 && p.trusts(client); i-- {
		at = &hops[i]
		if !at.addr.IsValid() {
			break
		}
		client = at.addr.Unmap()
	}
	return client, at
}

// addrOf reads "IP", "IP:port" or "[IPv6]:port".
func addrOf(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), true
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return a, err == nil
}

// lastValue is the last comma-separated element of a header's values.
func lastValue(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	v := vs[len(vs)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

// Secure reports whether the client reached the server over TLS: to the
// server itself, or to a trusted proxy that said so.
func Secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	v, _ := r.Context().Value(secureKey{}).(bool)
	return v
}

// Scheme is "https" when Secure, else "http".
func Scheme(r *http.Request) string {
	if Secure(r) {
		return "https"
	}
	return "http"
}

// SourceAddr is the client's address (see Wrap): the zero Addr when
// RemoteAddr holds none.
func SourceAddr(r *http.Request) netip.Addr {
	a, ok := addrOf(r.RemoteAddr)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}

// Local reports whether the request comes from this machine and not
// through a proxy: a loopback peer with none of the headers proxies add.
// Loopback alone is not enough, since a proxy on the same machine (the
// usual nginx in front) forwards every client from loopback.
func Local(r *http.Request) bool {
	if !SourceAddr(r).IsLoopback() {
		return false
	}
	h := r.Header
	return len(h["X-Forwarded-For"]) == 0 && len(h["Forwarded"]) == 0 && len(h["X-Real-Ip"]) == 0
}
