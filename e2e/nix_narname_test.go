package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNixNARNamedByHash pushes a path with real Nix, then tries to put
// other bytes under its NAR file's name: over the binary-cache protocol
// (curl with Nix's netrc), and with the aws CLI as a PutObject, a
// CopyObject and a multipart upload. Nix names a NAR file by the SHA-256
// of its bytes, so each is refused with 400 naming the hash the bytes
// have; the NAR stays the one the signed narinfo names, and Nix still
// substitutes the path. The same bytes under their own name are accepted
// again, as a re-push sends them.
func TestNixNARNamedByHash(t *testing.T) {
	t.Parallel()
	s := nixStart(t)
	c := nixBuildClosure(t, 1, 4, "named")
	cache := nixCacheURL(s, nixCacheBucket)
	nixMust(t, "nix", "copy", "--option", "substituters", "", "--option", "netrc-file", nixNetrc(s),
		"--to", cache+"?compression=zstd", c.Top)
	ni := nixGetNarinfo(t, s, nixCacheBucket, c.Top)
	narURL := cache + "/" + ni.URL
	orig := nixHTTP(t, nixNetrc(s), http.MethodGet, narURL)
	if orig.Status != http.StatusOK || orig.Body == "" {
		t.Fatalf("GET %s: %d, %d bytes", ni.URL, orig.Status, len(orig.Body))
	}

	dir := t.TempDir()
	other := filepath.Join(dir, "other.nar.zst")
	if err := os.WriteFile(other, []byte("not the NAR this name is of\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.nar.zst")
	writeRandomFile(t, big, 12<<20, 11) // over the aws CLI's 8 MiB: two parts

	refused := func(what, out string) {
		t.Helper()
		if !strings.Contains(out, "FileHash") || !strings.Contains(out, "upload them as nar/") {
			t.Errorf("%s: the refusal does not say what the name promises:\n%s", what, out)
		}
	}
	if r := nixPut(t, nixNetrc(s), narURL, other, "application/x-nix-nar"); r.Status != http.StatusBadRequest {
		t.Errorf("PUT other bytes over the binary-cache protocol: %d %s, want 400", r.Status, r.Body)
	} else {
		refused("binary-cache PUT", r.Body)
	}
	env := s.clientEnv()
	aws := func(args ...string) cmdResult {
		return runCmd(t, env, dir, "aws", append([]string{"--endpoint-url", s.Endpoint, "--profile", "nixbucket"}, args...)...)
	}
	awsRefused := func(what string, r cmdResult) {
		t.Helper()
		if r.Err == nil || !strings.Contains(r.Stderr, "InvalidArgument") {
			t.Errorf("%s: %v, want InvalidArgument\nstdout:\n%s\nstderr:\n%s", what, r.Err, r.Stdout, r.Stderr)
			return
		}
		refused(what, r.Stderr)
	}
	awsRefused("put-object", aws("s3api", "put-object", "--bucket", nixCacheBucket, "--key", ni.URL, "--body", other))
	if r := aws("s3api", "put-object", "--bucket", nixCacheBucket, "--key", "scratch/other", "--body", other); r.Err != nil {
		t.Fatalf("put-object scratch/other: %v\n%s", r.Err, r.Stderr)
	}
	awsRefused("copy-object", aws("s3api", "copy-object", "--bucket", nixCacheBucket, "--key", ni.URL,
		"--copy-source", nixCacheBucket+"/scratch/other"))
	awsRefused("multipart (s3 cp)", aws("s3", "cp", "--no-progress", big, "s3://"+nixCacheBucket+"/"+ni.URL))

	if got := nixHTTP(t, nixNetrc(s), http.MethodGet, narURL); got.Status != http.StatusOK || got.Body != orig.Body {
		t.Fatalf("GET %s after the refusals: %d, %d bytes, want the pushed NAR (%d bytes)", ni.URL, got.Status, len(got.Body), len(orig.Body))
	}
	// The file's own bytes under its name: a re-push.
	same := filepath.Join(dir, "same.nar.zst")
	if err := os.WriteFile(same, []byte(orig.Body), 0o644); err != nil {
		t.Fatal(err)
	}
	nixMustPut(t, nixNetrc(s), narURL, same, "application/x-nix-nar")
	if r := aws("s3", "cp", "--no-progress", same, "s3://"+nixCacheBucket+"/"+ni.URL); r.Err != nil {
		t.Errorf("aws s3 cp of the NAR's own bytes under its name: %v\n%s", r.Err, r.Stderr)
	}

	c.delete(t)
	nixMustSubstitute(t, cache, nixServerKey(t, s, nixCacheBucket), nixNetrc(s), c.Top)
}
