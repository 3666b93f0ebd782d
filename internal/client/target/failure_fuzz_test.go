package target

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzServerError: whatever a server answers an error with (body, its
// X-Nixbucket-Error and Content-Type headers), what push prints of it is
// one line of printable UTF-8 of bounded length, without markup: a hostile
// or broken server cannot paint the terminal (escape sequences), forge
// further lines of output, or flood it.
func FuzzServerError(f *testing.F) {
	f.Add(403, "", "application/xml", "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>")
	f.Add(403, "AccessDenied", "text/plain", "403 AccessDenied: wrong secret for key NBKEY\n")
	f.Add(500, "", "text/html", "<html><body>oops</body></html>")
	f.Add(502, "", "text/plain", "bad gateway \x1b[31mred\x1b[0m\r\nsecond line")
	f.Add(403, "", "application/xml", "<Error><Code>A\x1b[2J</Code><Message>&lt;b&gt;x&#x1b;[1m</Message></Error>")
	f.Add(404, "No\nSuch", "", strings.Repeat("é", 150))
	f.Add(400, "", "application/xml", "<Error><Code>InvalidArgument</Code><Message>\u009b31m&#x9b;2J\u0085\u202eevil</Message></Error>")
	f.Fuzz(func(t *testing.T, status int, hdr, ctype, body string) {
		if status < 100 || status > 999 {
			return
		}
		resp := &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}
		if hdr != "" {
			resp.Header.Set("X-Nixbucket-Error", hdr)
		}
		if ctype != "" {
			resp.Header.Set("Content-Type", ctype)
		}
		e := readServerError(resp)
		s := e.String()
		if !utf8.ValidString(s) || len(s) > 400 || strings.ContainsAny(e.message, "<>") {
			t.Fatalf("answer %d %q %q: printed %q", status, hdr, body, s)
		}
		for _, r := range s {
			if r < ' ' || r == 0x7f || r >= 0x80 && r < 0xa0 || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
				t.Fatalf("answer %d %q %q: printed %q, with control character %U", status, hdr, body, s, r)
			}
		}
	})
}
