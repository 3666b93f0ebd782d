package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/nixbucket/nixbucket/internal/server"
)

// newData makes a nixbucket data directory, as a first start would.
func newData(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	srv, err := server.Open(context.Background(), server.Options{Data: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

var sectionRE = regexp.MustCompile(`(?m)^\[([^\]]+)\]$`)

// TestCredentialsProfileNames: the sections user create and user key
// create print can be appended to ~/.aws/credentials as they are: a
// profile name already there becomes NAME-2, NAME-3, …
func TestCredentialsProfileNames(t *testing.T) {
	data := newData(t)
	home := t.TempDir()
	creds := filepath.Join(home, ".aws", "credentials")
	if err := os.MkdirAll(filepath.Dir(creds), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(creds, []byte("[default]\naws_access_key_id = X\naws_secret_access_key = Y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home, "AWS_SHARED_CREDENTIALS_FILE=", "NIXBUCKET_DATA=" + data}
	appendSection := func(args []string, want string) {
		t.Helper()
		r := run(t, env, args...)
		if r.code != 0 {
			t.Fatalf("nixbucket %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
		}
		m := sectionRE.FindAllStringSubmatch(r.stdout, -1)
		if len(m) != 1 || m[0][1] != want {
			t.Fatalf("nixbucket %s printed %q; want one section [%s]", strings.Join(args, " "), r.stdout, want)
		}
		f, err := os.OpenFile(creds, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(r.stdout); err != nil {
			t.Fatal(err)
		}
	}
	appendSection([]string{"user", "create", "alice"}, "alice")
	appendSection([]string{"user", "key", "create", "alice"}, "alice-2")
	appendSection([]string{"user", "key", "create", "alice"}, "alice-3")
	appendSection([]string{"user", "create", "default"}, "default-2")

	// AWS_SHARED_CREDENTIALS_FILE names the file to look in.
	other := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(other, []byte("[ bob ]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, []string{"HOME=" + home, "AWS_SHARED_CREDENTIALS_FILE=" + other, "NIXBUCKET_DATA=" + data}, "user", "create", "bob")
	if !strings.HasPrefix(r.stdout, "[bob-2]\n") || !strings.Contains(r.stderr, "[bob] is already in "+other) {
		t.Errorf("user create bob with [bob] in $AWS_SHARED_CREDENTIALS_FILE: stdout %q, stderr %q", r.stdout, r.stderr)
	}
}

func TestFreeProfile(t *testing.T) {
	taken := map[string]bool{"a": true, "a-2": true, "b-2": true}
	for in, want := range map[string]string{"a": "a-3", "b": "b", "c": "c"} {
		if got := freeProfile(in, taken); got != want {
			t.Errorf("freeProfile(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPolicyTypoWhere: a comma left out of the seed's policy (the
// newcomer's edit of examples/policies) is refused with the line and
// column of the mistake, so it can be found in the file.
func TestPolicyTypoWhere(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "examples", "policies", "seed-anonymous-read.bucket.json"))
	if err != nil {
		t.Fatal(err)
	}
	typo := strings.Replace(string(doc), `"s3:GetObject",`, `"s3:GetObject"`, 1)
	if typo == string(doc) {
		t.Fatal(`the seed policy no longer has "s3:GetObject",`)
	}
	file := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(file, []byte(typo), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, "bucket", "policy", "set", "nix-cache", file, "--data", newData(t))
	want := "nixbucket: malformed policy: invalid JSON at line 9, column 17: invalid character '\"' after array element\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("bucket policy set with a comma missing: exit %d, stderr %q; want exit 1, %q", r.code, r.stderr, want)
	}
}

// TestPolicyNameTypo: a misspelt anonymous-read is taken for a file name;
// the refusal says which name was meant, not only that no such file exists.
func TestPolicyNameTypo(t *testing.T) {
	r := run(t, nil, "bucket", "policy", "set", "nix-cache", "anonymous-raed", "--data", newData(t))
	want := "nixbucket: reading policy: open anonymous-raed: no such file or directory; did you mean anonymous-read?\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("bucket policy set nix-cache anonymous-raed: exit %d, stderr %q; want exit 1, %q", r.code, r.stderr, want)
	}
}

// TestBucketSetTypo: a misspelt setting names the one meant, with the
// value given, ready to run again.
func TestBucketSetTypo(t *testing.T) {
	r := run(t, nil, "bucket", "set", "nix-cache", "keep-day=30", "--data", newData(t))
	want := `nixbucket: unknown setting "keep-day=30"; did you mean keep-days=30? (`
	if r.code != 1 || !strings.HasPrefix(r.stderr, want) {
		t.Errorf("bucket set nix-cache keep-day=30: exit %d, stderr %q; want exit 1 and %q…", r.code, r.stderr, want)
	}
}

// TestDataDirOfAnotherUser: serve and the admin commands run by a user who
// may not write the data directory (a service's, run without sudo -u) say
// whose it is and to run as that user, rather than "open …/lock:
// permission denied"; one that cannot be created says to pick another.
func TestDataDirOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run the binary as nobody")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	pub, err := os.MkdirTemp("", "nixbucket-cli-nobody")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pub) })
	ro := filepath.Join(pub, "ro") // nobody may enter, not write
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(os.Chmod(pub, 0o755), os.Chmod(ro, 0o555)); err != nil {
		t.Fatal(err)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	asNobody := filepath.Join(pub, "nixbucket")
	if err := os.WriteFile(asNobody, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(pub, "data")
	srv, err := server.Open(context.Background(), server.Options{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--listen", "127.0.0.1:0", "--data", data},
			"nixbucket: data directory " + data + " belongs to root, and this user (nobody) may not write to it: run nixbucket as root (sudo -u root nixbucket …), or give --data a directory of your own\n"},
		{[]string{"user", "list", "--data", data},
			"nixbucket: data directory " + data + " belongs to root, and this user (nobody) may not write to it: run nixbucket as root (sudo -u root nixbucket …), or give --data a directory of your own\n"},
		{[]string{"serve", "--listen", "127.0.0.1:0", "--data", filepath.Join(ro, "data")},
			"nixbucket: cannot create the data directory " + filepath.Join(ro, "data") + " (mkdir " + filepath.Join(ro, "data") + ": permission denied): give --data a directory this user (nobody) may create, such as ~/nixbucket-data, or run nixbucket as a user who may\n"},
	} {
		cmd := exec.Command(asNobody, c.args...)
		cmd.Env = append(os.Environ(), "HOME="+pub)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 1 || stderr.String() != c.want {
			t.Errorf("nixbucket %s as nobody: %v, stderr %q; want exit 1, %q", strings.Join(c.args, " "), err, stderr.String(), c.want)
		}
	}
}

// TestPolicyNameWarnings: the seed's policies set verbatim warn of
// nothing; with a user, an account or a bucket name mistyped they are
// stored all the same (exit 0) with a warning naming what does not exist.
func TestPolicyNameWarnings(t *testing.T) {
	data := newData(t)
	seed := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", "policies", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	file := func(doc string) string {
		f := filepath.Join(t.TempDir(), "policy.json")
		if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, args := range [][]string{{"bucket", "create", "example-nix-cache"}, {"user", "create", "cache-reader"}} {
		if r := run(t, nil, append(args, "--data", data)...); r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	read, upload := seed("seed-authenticated-read.bucket.json"), seed("seed-upload.iam.json")
	for _, c := range []struct {
		args []string
		want string // the warning lines on standard error
	}{
		{[]string{"bucket", "policy", "set", "example-nix-cache", file(read)}, ""},
		{[]string{"user", "create", "cache-upload", "--policy", file(upload)}, ""},
		{[]string{"bucket", "policy", "set", "example-nix-cache", file(strings.Replace(read, "user/cache-reader", "user/cache-raeder", 1))},
			"warning: the policy names arn:aws:iam::000000000000:user/cache-raeder, but there is no user cache-raeder (users: cache-reader, cache-upload): it applies to no one until that user is created\n"},
		{[]string{"bucket", "policy", "set", "example-nix-cache", file(strings.Replace(read, "000000000000", "123456789012", 1))},
			"warning: the policy names arn:aws:iam::123456789012:user/cache-reader, of the account 123456789012, but this server's account is 000000000000 (nixbucket serve --account): that principal is no one here\n"},
		{[]string{"user", "policy", "set", "cache-upload", file(strings.ReplaceAll(upload, "example-nix-cache", "example-nix-cach"))},
			"warning: the policy names the bucket example-nix-cach, which does not exist (buckets: example-nix-cache, nix-cache): it grants nothing there until it is created\n"},
	} {
		r := run(t, nil, append(c.args, "--data", data)...)
		var warnings strings.Builder
		for line := range strings.Lines(r.stderr) {
			if strings.HasPrefix(line, "warning: ") {
				warnings.WriteString(line)
			}
		}
		if r.code != 0 || warnings.String() != c.want {
			t.Errorf("nixbucket %s: exit %d, stderr %q; want exit 0 and the warnings %q", strings.Join(c.args[:3], " "), r.code, r.stderr, c.want)
		}
	}
}

// TestAdminMistakes: a token for a user that does not exist, and an admin
// command run where there is no data directory, say what to do.
func TestAdminMistakes(t *testing.T) {
	data := newData(t)
	r := run(t, nil, "token", "create", "--user", "cache-raeder", "--data", data)
	if want := "nixbucket: token create: there is no user \"cache-raeder\" (nixbucket user list shows them; nixbucket user create cache-raeder makes one)\n"; r.code != 1 || r.stderr != want {
		t.Errorf("token create for a missing user: exit %d, stderr %q; want exit 1, %q", r.code, r.stderr, want)
	}
	none := filepath.Join(t.TempDir(), "none")
	r = run(t, nil, "user", "list", "--data", none)
	if want := "(start `nixbucket serve --data " + none + "` once, or pass the server's --data DIR, or set NIXBUCKET_DATA)"; r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("user list without data: exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, want)
	}
}
