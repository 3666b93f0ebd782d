package fastlane

import (
	"bufio"
	"bytes"
	"maps"
	"net/http"
	"slices"
	"testing"
)

// FuzzParseHead checks the parser against net/http: every head it
// accepts, net/http reads as the same request.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"GET /nix-cache/abc.narinfo HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/8 Nix/2.8\r\nAccept: */*\r\n\r\n",
		"HEAD /b/nar/x.nar.zst HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\nConnection: close\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\nx-a:\r\nX-A: \t v \t\r\n\r\nGET / HTTP/1.1\r\n",
		"GET /a HTTP/1.1\r\nHost: a\r\nAuthorization: Basic Zm9vOmJhcg==\r\nIf-None-Match: \"x\"\r\n\r\n",
		"PUT /a HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
		"GET /a?b HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var h head
		if parseHead(b, &h) != fast {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b[:h.size])))
		if err != nil {
			t.Fatalf("parseHead accepted %q; net/http: %v", b[:h.size], err)
		}
		if req.Method != h.method || req.RequestURI != string(h.target) || req.URL.Path != string(h.target) ||
			req.URL.RawPath != "" || req.URL.RawQuery != "" || req.Host != string(h.host) || req.Close != h.close ||
			req.ContentLength != 0 || len(req.TransferEncoding) != 0 || req.ProtoMinor != 1 {
			t.Fatalf("%q: parseHead %s %q host %q close %v; net/http %s %q path %q raw %q host %q close %v length %d",
				b[:h.size], h.method, h.target, h.host, h.close,
				req.Method, req.RequestURI, req.URL.Path, req.URL.RawPath, req.Host, req.Close, req.ContentLength)
		}
		if !validHost(h.host) {
			t.Fatalf("accepted Host %q", h.host)
		}
		got := http.Header{}
		for _, f := range h.fields {
			name, _ := canonicalName(f.name)
			got[name] = append(got[name], string(f.value))
		}
		if p := got["Pragma"]; len(p) > 0 && p[0] == "no-cache" && got["Cache-Control"] == nil {
			got["Cache-Control"] = []string{"no-cache"}
		}
		if !maps.EqualFunc(got, req.Header, slices.Equal) {
			t.Fatalf("%q: parseHead fields %q; net/http %q", b[:h.size], got, req.Header)
		}
	})
}
