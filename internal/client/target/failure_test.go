package target

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/client/spool"
	"github.com/nixbucket/nixbucket/internal/client/storeurl"
)

const (
	xmlBadKey = `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>AccessDenied</Code><Message>unknown access key or wrong secret</Message><Resource>/c/nix-cache-info</Resource><RequestId>1</RequestId></Error>`
	xmlSignature = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>`
	xmlDenied    = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`
	xmlNoBucket  = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>`
)

// TestHTTPFailure checks how answers of HTTP caches (nixbucket's, and
// other servers' S3 XML, plain text and HTML) are told apart: one Kind per
// cause, a message that never quotes markup, and reads that stay "missing"
// where Nix takes them so.
func TestHTTPFailure(t *testing.T) {
	type answer struct {
		status      int
		contentType string
		header      string // X-Nixbucket-Error
		body        string
	}
	tests := []struct {
		name   string
		auth   bool // credentials sent
		method string
		a      answer
		want   Kind // 0: not a Failure
		in     string
	}{
		{"401 anonymous", false, "GET", answer{401, "text/plain", "Unauthorized", "401 Unauthorized: credentials required\n"}, NoCredentials, "no credentials were sent"},
		{"403 anonymous write (public cache)", false, "PUT", answer{403, "text/plain", "AccessDenied", "403 AccessDenied: Access Denied\n"}, NoCredentials, "no credentials were sent"},
		{"403 anonymous read is missing", false, "GET", answer{403, "text/plain", "AccessDenied", "403 AccessDenied: Access Denied\n"}, 0, ""},
		{"wrong secret (nixbucket)", true, "GET", answer{403, "application/xml", "", xmlBadKey}, BadCredentials, "unknown or its secret is wrong"},
		{"wrong secret (S3 code)", true, "PUT", answer{403, "application/xml", "", xmlSignature}, BadCredentials, "SignatureDoesNotMatch"},
		{"401 with credentials", true, "GET", answer{401, "text/html", "", "<html><body>go away</body></html>"}, BadCredentials, "refused"},
		{"denied by policy", true, "PUT", answer{403, "text/plain", "AccessDenied", "403 AccessDenied: Access Denied\n"}, Denied, "grant s3:PutObject on arn:aws:s3:::c/*"},
		{"denied by policy (XML)", true, "PUT", answer{403, "application/xml", "", xmlDenied}, Denied, "access denied"},
		{"denied read is missing", true, "HEAD", answer{403, "", "", ""}, 0, ""},
		{"no such bucket (GET)", true, "GET", answer{404, "text/plain", "NoSuchBucket", "404 NoSuchBucket: The specified bucket does not exist\n"}, NoBucket, "does not exist"},
		{"no such bucket (XML PUT)", true, "PUT", answer{404, "application/xml", "", xmlNoBucket}, NoBucket, "nixbucket bucket create c"},
		{"404 on PUT", true, "PUT", answer{404, "text/html", "", "<html>Not Found</html>"}, NoBucket, "does not exist"},
		{"not a cache (nixbucket 400)", true, "GET", answer{400, "text/plain", "XNixbucketNotACache", "400 XNixbucketNotACache: no bucket c here: each bucket is a binary cache, at http://h/BUCKET. Caches you may read here: http://h/nix-cache\n"}, NoBucket, "Caches you may read here: http://h/nix-cache"},
		{"missing key", true, "GET", answer{404, "text/plain", "NoSuchKey", "404 NoSuchKey: The specified key does not exist.\n"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.a.contentType != "" {
					w.Header().Set("Content-Type", tt.a.contentType)
				}
				if tt.a.header != "" {
					w.Header().Set("X-Nixbucket-Error", tt.a.header)
				}
				w.WriteHeader(tt.a.status)
				if r.Method != http.MethodHead {
					w.Write([]byte(tt.a.body))
				}
			}))
			defer srv.Close()
			u, err := storeurl.Parse(srv.URL + "/c")
			if err != nil {
				t.Fatal(err)
			}
			o := Options{NetrcFile: "/dev/null"}
			if tt.auth {
				o.BearerToken = "nbt_x_y"
			}
			tg, err := openHTTP(u, o)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			switch tt.method {
			case "GET":
				_, err = tg.Get(ctx, "nix-cache-info")
			case "HEAD":
				_, err = tg.Stat(ctx, "x.narinfo")
			case "PUT":
				err = tg.Put(ctx, "nix-cache-info", spool.FromBytes([]byte("StoreDir: /nix/store\n")), Meta{})
			}
			var f *Failure
			if tt.want == 0 {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("error %v, want ErrNotFound", err)
				}
				return
			}
			if !errors.As(err, &f) || f.Kind != tt.want {
				t.Fatalf("error %v (%T), want a Failure of kind %d", err, err, tt.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.in) {
				t.Errorf("message %q lacks %q", msg, tt.in)
			}
			if strings.ContainsAny(msg, "<>\n") {
				t.Errorf("message %q holds markup or several lines", msg)
			}
		})
	}
}
