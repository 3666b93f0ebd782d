package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// testS3cmd drives the server with s3cmd (SigV4 requests, SigV2 signurl):
// mb, a multipart put and a small one, ls, la, get, info, signurl, del, rb;
// and put, ls, get, info, del with signature_v2 = True.
func testS3cmd(t *testing.T, s *Server) {
	env := s.clientEnv()
	dir := t.TempDir()
	cfg := s3cmdConfig(t, s, dir)
	s3cmd := func(args ...string) string {
		t.Helper()
		return mustRun(t, env, dir, "s3cmd", append([]string{"-c", cfg}, args...)...)
	}
	const bucket = "s3cmd-e2e"
	root := "s3://" + bucket + "/"

	s3cmd("mb", "s3://"+bucket)
	big := filepath.Join(dir, "big.bin")
	const bigSize = 17_000_000 // over s3cmd's 15 MiB chunk: two parts
	writeRandomFile(t, big, bigSize, 2)
	small := filepath.Join(dir, "small.txt")
	if err := os.WriteFile(small, []byte("hello from s3cmd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s3cmd("put", big, root+"big.bin")
	s3cmd("put", small, root+"sub/small.txt")

	// ls: sizes; -l: raw ETags (multipart "-2"); --list-md5: whole-file MD5
	// of the multipart object, which s3cmd reads back from its
	// x-amz-meta-s3cmd-attrs, so user metadata must survive multipart.
	ls := parseS3cmdLs(s3cmd("ls", "--recursive", root), 2)
	if ls[root+"big.bin"] != fmt.Sprint(bigSize) || ls[root+"sub/small.txt"] != "17" || len(ls) != 2 {
		t.Errorf("s3cmd ls --recursive: %v, want big.bin=%d sub/small.txt=17", ls, bigSize)
	}
	ls = parseS3cmdLs(s3cmd("ls", root), 2)
	if ls[root+"big.bin"] != fmt.Sprint(bigSize) || ls[root+"sub/"] != "DIR" || len(ls) != 2 {
		t.Errorf("s3cmd ls: %v, want big.bin and DIR sub/", ls)
	}
	etags := parseS3cmdLs(s3cmd("ls", "-l", "--recursive", root), 3)
	if want := multipartETag(t, big, 15<<20); etags[root+"big.bin"] != want {
		t.Errorf("s3cmd ls -l: big.bin ETag %q, want %q", etags[root+"big.bin"], want)
	}
	if want := fileMD5(t, small); etags[root+"sub/small.txt"] != want {
		t.Errorf("s3cmd ls -l: small.txt ETag %q, want %q", etags[root+"sub/small.txt"], want)
	}
	md5s := parseS3cmdLs(s3cmd("ls", "--list-md5", root), 3)
	if want := fileMD5(t, big); md5s[root+"big.bin"] != want {
		t.Errorf("s3cmd ls --list-md5: big.bin %q, want %q (from x-amz-meta-s3cmd-attrs)", md5s[root+"big.bin"], want)
	}
	la := parseS3cmdLs(s3cmd("la", "--recursive"), 2)
	if la[root+"big.bin"] != fmt.Sprint(bigSize) || la[root+"sub/small.txt"] != "17" {
		t.Errorf("s3cmd la: %v lacks this bucket's objects", la)
	}

	back := filepath.Join(dir, "back.bin")
	s3cmd("get", root+"big.bin", back)
	sameFile(t, big, back)
	backSmall := filepath.Join(dir, "back.txt")
	s3cmd("get", root+"sub/small.txt", backSmall)
	sameFile(t, small, backSmall)

	info := s3cmd("info", root+"big.bin")
	for _, want := range []string{
		fmt.Sprintf("File size: %d", bigSize),
		"MD5 sum:   " + fileMD5(t, big),
	} {
		if !strings.Contains(info, want) {
			t.Errorf("s3cmd info lacks %q:\n%s", want, info)
		}
	}

	// setcors, info and delcors: the bucket's CORS configuration as S3's
	// XML, which nixbucket answers browsers with (e2e/cors_test.go).
	t.Run("cors", func(t *testing.T) {
		if s.Target != targetNixbucket {
			t.Skipf("%s: CORS not checked", s.Target)
		}
		xmlFile := filepath.Join(dir, "cors.xml")
		if err := os.WriteFile(xmlFile, []byte(`<CORSConfiguration><CORSRule><AllowedOrigin>https://web.example</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`), 0o644); err != nil {
			t.Fatal(err)
		}
		s3cmd("setcors", xmlFile, "s3://"+bucket)
		if info := s3cmd("info", "s3://"+bucket); !strings.Contains(info, "<AllowedOrigin>https://web.example</AllowedOrigin>") {
			t.Errorf("s3cmd info after setcors:\n%s", info)
		}
		s3cmd("delcors", "s3://"+bucket)
		if info := s3cmd("info", "s3://"+bucket); !regexp.MustCompile(`CORS:\s+none`).MatchString(info) {
			t.Errorf("s3cmd info after delcors:\n%s", info)
		}
	})

	t.Run("signurl", func(t *testing.T) {
		url := strings.TrimSpace(s3cmd("signurl", root+"sub/small.txt", "+300"))
		if !strings.HasPrefix(url, s.Endpoint+"/"+bucket+"/sub/small.txt?") || !strings.Contains(url, "AWSAccessKeyId=") {
			t.Fatalf("signurl gave %q, want a path-style SigV2 URL on %s", url, s.Endpoint)
		}
		if s.hasQuirk(quirkNoSigV2) {
			t.Skipf("%s: not checked", versitygwQuirks[quirkNoSigV2])
		}
		out := filepath.Join(dir, "signed.txt")
		if code, body := curlGet(t, env, url, out); code != 200 {
			t.Fatalf("GET signurl: status %d %s", code, body)
		}
		sameFile(t, small, out)

		// A key s3cmd escapes itself: spaces, "+", non-ASCII, "%".
		const awkward = "sub/a b+c ü%2F.txt"
		s3cmd("put", small, root+awkward)
		url = strings.TrimSpace(s3cmd("signurl", root+awkward, "+300"))
		if code, body := curlGet(t, env, url, out); code != 200 {
			t.Fatalf("GET signurl of %q (%s): status %d %s", awkward, url, code, body)
		}
		sameFile(t, small, out)
		s3cmd("del", root+awkward)
	})

	// signature_v2 = True: SigV2 headers, with s3cmd's x-amz-date
	// ("… +0000"), on object and bucket requests (signed as "/BUCKET/").
	t.Run("signature_v2", func(t *testing.T) {
		if s.hasQuirk(quirkNoSigV2) {
			t.Skipf("%s: not checked", versitygwQuirks[quirkNoSigV2])
		}
		v2cfg := filepath.Join(dir, "s3cfg-v2")
		conf, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		conf = []byte(strings.Replace(string(conf), "signature_v2 = False", "signature_v2 = True", 1))
		if err := os.WriteFile(v2cfg, conf, 0o600); err != nil {
			t.Fatal(err)
		}
		v2 := func(args ...string) string {
			t.Helper()
			return mustRun(t, env, dir, "s3cmd", append([]string{"-c", v2cfg}, args...)...)
		}
		v2("put", small, root+"v2/small.txt")
		if ls := parseS3cmdLs(v2("ls", root+"v2/"), 2); ls[root+"v2/small.txt"] != "17" {
			t.Errorf("s3cmd ls (SigV2): %v, want v2/small.txt=17", ls)
		}
		back := filepath.Join(dir, "back-v2.txt")
		v2("get", root+"v2/small.txt", back)
		sameFile(t, small, back)
		if info := v2("info", root); !strings.Contains(info, "Location:") {
			t.Errorf("s3cmd info (SigV2) of the bucket:\n%s", info)
		}
		v2("del", root+"v2/small.txt")
	})

	s3cmd("del", root+"big.bin", root+"sub/small.txt")
	if ls := parseS3cmdLs(s3cmd("ls", "--recursive", root), 2); len(ls) != 0 {
		t.Errorf("s3cmd ls after del: %v, want nothing", ls)
	}
	s3cmd("rb", "s3://"+bucket)
	if out := s3cmd("ls"); strings.Contains(out, "s3://"+bucket) {
		t.Errorf("s3cmd ls still lists %s after rb:\n%s", bucket, out)
	}
}

// parseS3cmdLs parses s3cmd ls output into s3:// URI → the field at index
// col (size is 2; the MD5/ETag column of -l and --list-md5 is 3), or "DIR"
// for a prefix.
func parseS3cmdLs(out string, col int) map[string]string {
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "DIR":
			got[f[1]] = "DIR"
		case len(f) > col && strings.HasPrefix(f[len(f)-1], "s3://"):
			got[f[len(f)-1]] = f[col]
		}
	}
	return got
}

// s3cmdConfig writes an s3cmd configuration for s (path-style, its admin
// key, SigV4) in dir and returns its path, for s3cmd -c.
func s3cmdConfig(t testing.TB, s *Server, dir string) string {
	t.Helper()
	cfg := filepath.Join(dir, "s3cfg")
	err := os.WriteFile(cfg, []byte(fmt.Sprintf(`[default]
access_key = %s
secret_key = %s
host_base = %s
host_bucket = %[3]s
use_https = False
signature_v2 = False
bucket_location = %s
`, s.AccessKey, s.SecretKey, s.Addr, s.Region)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
