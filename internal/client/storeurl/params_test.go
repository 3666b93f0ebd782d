package storeurl

import (
	"strings"
	"testing"
)

// TestParseMessages checks the exact messages for a mistyped parameter
// and a parameter that is not a number: the nearest name the scheme
// takes, and no strconv internals.
func TestParseMessages(t *testing.T) {
	tests := []struct{ url, want string }{
		{"s3://b?endpint=h:9000", `unknown parameter "endpint" in the store URL; did you mean "endpoint"?`},
		{"s3://b?Region=eu-west-2", `unknown parameter "Region" in the store URL; did you mean "region"?`},
		{"file:///tmp/x?compresion=xz", `unknown parameter "compresion" in the store URL; did you mean "compression"?`},
		{"http://h/c?secret-kye=/k", `unknown parameter "secret-kye" in the store URL; did you mean "secret-key"?`},
		{"s3://b?multipart-treshold=1G", `unknown parameter "multipart-treshold" in the store URL; did you mean "multipart-threshold"?`},
		// Not a typo of anything: the list of what the scheme takes.
		{"http://h/c?bogus=1", `unknown parameter "bogus" in the store URL (http:// URLs take compression, compression-level,`},
		// An s3:// parameter is not offered for another scheme.
		{"http://h/c?endpint=h", `unknown parameter "endpint" in the store URL (http:// URLs take`},
		{"s3://b?compression-level=abc", `parameter compression-level: "abc" is not a number`},
		{"s3://b?priority=1.5", `parameter priority: "1.5" is not a number`},
		{"s3://b?priority=99999999999999999999", `parameter priority: "99999999999999999999" is too large`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.url)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Parse(%q): error %v\nwant one starting %q", tt.url, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "strconv") || strings.Contains(err.Error(), "invalid syntax") {
			t.Errorf("Parse(%q): error %q shows Go internals", tt.url, err)
		}
	}
}
