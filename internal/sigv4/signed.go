package sigv4

import (
	"net"
	"net/http"
	"strings"
)

// errHeadersNotSigned is AWS's answer to a request that carries an x-amz-*
// header its signature does not cover, or whose signature leaves out host.
var errHeadersNotSigned = newError(CodeAccessDenied, "There were headers present in the request which were not signed")

// checkSignedHeaders refuses a SigV4 request whose SignedHeaders leave out
// host or any x-amz-* header the request carries, as S3 does for header
// and presigned authentication alike. Without it a presigned PUT plus an
// unsigned x-amz-copy-source becomes a copy of anything the signer can
// read. x-amz-content-sha256 is exempt: presigned clients send it unsigned,
// and its value is the last line of the canonical request, so the
// signature covers it anyway.
func checkSignedHeaders(r *http.Request, signedHeaders string) error {
	signed := func(name string) bool {
		for rest := signedHeaders; rest != ""; {
			var s string
			s, rest, _ = strings.Cut(rest, ";")
			if strings.EqualFold(s, name) {
				return true
			}
		}
		return false
	}
	if !signed("host") {
		return errHeadersNotSigned
	}
	for name := range r.Header {
		if len(name) < len("x-amz-") || !strings.EqualFold(name[:len("x-amz-")], "x-amz-") {
			continue
		}
		if strings.EqualFold(name, "X-Amz-Content-Sha256") {
			continue
		}
		if !signed(name) {
			return errHeadersNotSigned
		}
	}
	return nil
}

// once refuses a presigned query that names an authentication parameter
// more than once (in any letter case): the extra one would be ignored by
// the check yet might be read by something else.
func once(pairs []queryPair, names ...string) bool {
	for _, name := range names {
		n := 0
		for _, p := range pairs {
			if strings.EqualFold(p.key, name) {
				n++
			}
		}
		if n > 1 {
			return false
		}
	}
	return true
}

// VirtualHostBucket returns the bucket a Host names under virtual-host
// addressing: "BUCKET.domain", with any port, the domain compared without
// regard to letter case and the bucket lowercased (DNS names are
// case-insensitive; bucket names are lowercase). ok is false when the Host
// is not a subdomain of domain, or domain is empty. The S3 router and the
// SigV2 canonical resource both use it, so the bucket a signature covers is
// the bucket the request reaches.
func VirtualHostBucket(host, domain string) (bucket string, ok bool) {
	if domain == "" {
		return "", false
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	suffix := "." + domain
	if len(host) <= len(suffix) || !strings.EqualFold(host[len(host)-len(suffix):], suffix) {
		return "", false
	}
	return strings.ToLower(host[:len(host)-len(suffix)]), true
}
