package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBucketCORS: the admin CLI sets (the public preset, the aws CLI's
// JSON, S3's XML), prints, reports and deletes a bucket's CORS
// configuration, and refuses a bad one with S3's message.
func TestBucketCORS(t *testing.T) {
	env := []string{"NIXBUCKET_DATA=" + newData(t)}
	ok := func(args ...string) string {
		t.Helper()
		r := run(t, env, args...)
		if r.code != 0 {
			t.Fatalf("nixbucket %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
		}
		return r.stdout
	}
	fails := func(want string, args ...string) {
		t.Helper()
		r := run(t, env, args...)
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Fatalf("nixbucket %s: exit %d, stderr %q; want a failure saying %q", strings.Join(args, " "), r.code, r.stderr, want)
		}
	}
	fails("no CORS configuration", "bucket", "cors", "get", "nix-cache")
	if info := ok("bucket", "info", "nix-cache"); !strings.Contains(info, "cors:            none") {
		t.Errorf("bucket info without a configuration:\n%s", info)
	}

	ok("bucket", "cors", "set", "nix-cache", "public")
	got := ok("bucket", "cors", "get", "nix-cache")
	for _, want := range []string{`"AllowedOrigins": [`, `"*"`, `"GET"`, `"HEAD"`, `"MaxAgeSeconds": 3600`} {
		if !strings.Contains(got, want) {
			t.Errorf("public preset %s lacks %s", got, want)
		}
	}
	if info := ok("bucket", "info", "nix-cache"); !strings.Contains(info, "cors:            1 rule(s)") {
		t.Errorf("bucket info with a configuration:\n%s", info)
	}

	dir := t.TempDir()
	write := func(name, doc string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// What get prints, set takes back (the aws CLI's JSON).
	ok("bucket", "cors", "set", "nix-cache", write("again.json", got))
	if again := ok("bucket", "cors", "get", "nix-cache"); again != got {
		t.Errorf("set of get's output changed it:\n%s\nwant\n%s", again, got)
	}
	ok("bucket", "cors", "set", "nix-cache", write("web.xml", `<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>https://web.example</AllowedOrigin></CORSRule></CORSConfiguration>`))
	if got := ok("bucket", "cors", "get", "nix-cache"); !strings.Contains(got, "https://web.example") {
		t.Errorf("after setting XML: %s", got)
	}
	fails("Unsupported method is PATCH", "bucket", "cors", "set", "nix-cache", write("bad.json", `{"CORSRules": [{"AllowedMethods": ["PATCH"], "AllowedOrigins": ["*"]}]}`))
	fails("unknown field", "bucket", "cors", "set", "nix-cache", write("typo.json", `{"CORSRules": [{"AllowedMethod": ["GET"], "AllowedOrigins": ["*"]}]}`))
	fails("no such bucket", "bucket", "cors", "set", "nope", "public")

	ok("bucket", "cors", "delete", "nix-cache")
	fails("no CORS configuration", "bucket", "cors", "get", "nix-cache")
}
