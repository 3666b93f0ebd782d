package pinapi

import (
	"bytes"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/pins"
)

// FuzzRequest feeds the API's two parsers of untrusted bytes, the path
// and the PUT body, whatever a client sends: they must not panic, a path
// they accept must name a bucket and, when named, a pin, and an accepted
// body is checked by the pin rules before use.
func FuzzRequest(f *testing.F) {
	f.Add(Prefix+"nix-cache/pins/release", []byte(`{"storePath": "/nix/store/0123456789abcdfghijklmnpqrsvwxyz0-x", "keep": 2}`))
	f.Add(Prefix+"nix-cache/pins", []byte(`{}`))
	f.Add(Prefix+"b%2Fc/pins/a%2Fb", []byte(`{"storePath": 1}`))
	f.Add(Prefix+"b/pins/n/x", []byte(`{"storePath": "/nix/store/x"}{}`))
	f.Fuzz(func(t *testing.T, path string, body []byte) {
		bucket, name, named, ok := splitPath(path)
		if ok && (bucket == "" || named != (name != "") || !strings.HasPrefix(path, Prefix)) {
			t.Fatalf("splitPath(%q) = %q, %q, %v, true", path, bucket, name, named)
		}
		if ok && named {
			_ = pins.CheckName(name) // must not panic whatever the name
		}
		var in PutBody
		if err := readJSON(bytes.NewReader(body), &in); err != nil {
			if _, isAPI := err.(*apiError); !isAPI {
				t.Fatalf("readJSON(%q): %v is no API error", body, err)
			}
		}
	})
}
