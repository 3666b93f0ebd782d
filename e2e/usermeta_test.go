package e2e

import (
	"encoding/json"
	"mime"
	"net/http"
	"testing"
)

// TestUserMetadataRFC2047 checks user metadata outside US-ASCII as S3's
// user guide states it ("Working with object metadata"): a value is stored
// with its RFC 2047 encoded-words decoded and sent back RFC 2047-encoded
// when it is not printable US-ASCII. curl (Nix ≥2.33's signer) sends raw
// UTF-8 in a header; before, nixbucket sent those bytes back raw, which
// botocore reads as Latin-1 ("hÃ©llo").
func TestUserMetadataRFC2047(t *testing.T) {
	need(t, "curl")
	need(t, "aws")
	s := startServer(t)
	if s.Target != targetNixbucket {
		t.Skipf("checks nixbucket's answers; %s is only the reference for the client suites", s.Target)
	}
	obj := s.Endpoint + "/nix-cache/meta.txt"
	r := curlS3(t, s, http.MethodPut, obj, "--data-binary", "metadata",
		"-H", "x-amz-meta-raw: héllo wörld",
		"-H", "x-amz-meta-latin: =?ISO-8859-1?Q?h=E9llo?=",
		"-H", "x-amz-meta-ascii: plain  text",
		"-H", "x-amz-meta-word: =?UTF-8?B?aMOpbGxv?=")
	if r.Status != http.StatusOK {
		t.Fatalf("PUT with metadata: %d %s", r.Status, r.Body)
	}
	want := map[string]string{
		"raw":   "=?UTF-8?B?aMOpbGxvIHfDtnJsZA==?=",
		"latin": "=?UTF-8?B?aMOpbGxv?=",
		"ascii": "plain  text",
		"word":  "=?UTF-8?B?aMOpbGxv?=",
	}
	decoded := map[string]string{"raw": "héllo wörld", "latin": "héllo", "ascii": "plain  text", "word": "héllo"}
	h := curlS3(t, s, http.MethodHead, obj).Header
	var dec mime.WordDecoder
	for k, v := range want {
		got := h.Get("x-amz-meta-" + k)
		if got != v {
			t.Errorf("HEAD x-amz-meta-%s: %q, want %q", k, got, v)
		}
		if d, err := dec.DecodeHeader(got); err != nil || d != decoded[k] {
			t.Errorf("x-amz-meta-%s %q decodes to %q (%v), want %q", k, got, d, err, decoded[k])
		}
	}

	// The aws CLI (botocore) sees the encoded-words, ASCII as S3 sends them.
	out := mustRun(t, s.clientEnv(), t.TempDir(), "aws", "--endpoint-url", s.Endpoint, "--profile", "nixbucket",
		"s3api", "head-object", "--bucket", "nix-cache", "--key", "meta.txt")
	var head struct{ Metadata map[string]string }
	if err := json.Unmarshal([]byte(out), &head); err != nil {
		t.Fatalf("head-object: %v\n%s", err, out)
	}
	for k, v := range want {
		if head.Metadata[k] != v {
			t.Errorf("aws s3api head-object Metadata[%s] = %q, want %q", k, head.Metadata[k], v)
		}
	}
}
