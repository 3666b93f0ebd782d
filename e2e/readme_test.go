package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeBlock is one shell block of README.md's walkthrough: a ```sh fence
// right after a line `<!-- walkthrough -->`, or `<!-- walkthrough:
// background -->` for the command that starts the server.
type readmeBlock struct {
	Line       int // of the opening fence, 1-based
	Background bool
	Script     string
}

// readmeMarker is the HTML comment that puts the next fenced block in the
// walkthrough.
var readmeMarker = regexp.MustCompile(`^<!-- walkthrough(: background)? -->$`)

// readmeWalkthrough extracts the walkthrough's blocks from README text, in
// order. A marker not followed by a ```sh fence is an error, so a marker
// cannot silently stop covering its block.
func readmeWalkthrough(readme []byte) ([]readmeBlock, error) {
	var blocks []readmeBlock
	sc := bufio.NewScanner(bytes.NewReader(readme))
	n := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		n++
		return sc.Text(), true
	}
	for {
		line, ok := next()
		if !ok {
			break
		}
		m := readmeMarker.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		fence, ok := next()
		for ok && strings.TrimSpace(fence) == "" {
			fence, ok = next()
		}
		if !ok || strings.TrimSpace(fence) != "```sh" {
			return nil, fmt.Errorf("README.md:%d: walkthrough marker not followed by a ```sh block", n)
		}
		b := readmeBlock{Line: n, Background: m[1] != ""}
		var body []string
		for {
			l, ok := next()
			if !ok {
				return nil, fmt.Errorf("README.md:%d: unterminated block", b.Line)
			}
			if strings.TrimSpace(l) == "```" {
				break
			}
			body = append(body, l)
		}
		b.Script = strings.Join(body, "\n") + "\n"
		blocks = append(blocks, b)
	}
	return blocks, sc.Err()
}

// readmeEnv is a new user's environment: a fresh HOME, the binary under
// test on PATH as `nixbucket` (in place of the README's `go install`), no
// AWS, Nix or nixbucket settings from the test's environment, no XDG
// directories (so Nix's caches are under the fresh HOME), and proxies that
// make anything but loopback fail at once.
func readmeEnv(t *testing.T) []string {
	t.Helper()
	bin := t.TempDir()
	if err := os.Symlink(serverBin, filepath.Join(bin, "nixbucket")); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		uk := strings.ToUpper(k)
		switch {
		case strings.HasPrefix(uk, "AWS_"), strings.HasPrefix(uk, "NIXBUCKET_"), strings.HasPrefix(uk, "XDG_"),
			strings.HasSuffix(uk, "_PROXY"), k == "NIX_CONFIG", k == "NIX_USER_CONF_FILES", k == "HOME":
		case k == "PATH":
			env = append(env, "PATH="+bin+string(os.PathListSeparator)+v)
		default:
			env = append(env, kv)
		}
	}
	return append(env,
		"HOME="+t.TempDir(),
		"AWS_EC2_METADATA_DISABLED=true",
		"https_proxy=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9",
		"http_proxy=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9",
		"no_proxy=127.0.0.1,localhost", "NO_PROXY=127.0.0.1,localhost",
	)
}

// TestReadmeWalkthrough follows README.md as a new user would: it runs
// every block marked `<!-- walkthrough -->`, in order, each in a fresh
// `bash -eu` (a failing command fails the test), from a fresh directory
// that holds the repository's examples/ (the README's commands run from
// the repository root), with the real clients (Nix 2.8, aws CLI, curl).
// The server is not on port 9000: every "127.0.0.1:9000" in the blocks
// becomes the test's address, and the background block's `nixbucket
// serve` gets `--listen` that address. `go install` is not run; the binary
// under test is on PATH instead.
func TestReadmeWalkthrough(t *testing.T) {
	for _, p := range []string{"bash", "nix", "nix-build", "nix-store", "aws", "curl", "sqlite3"} {
		need(t, p)
	}
	if syscall.Access("/nix/var/nix/db", 2 /* W_OK */) != nil {
		if _, err := os.Stat("/nix/var/nix/daemon-socket/socket"); err != nil {
			skipOrFail(t, "the Nix store is neither writable (run as root) nor served by nix-daemon")
		}
	}
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("the README is nixbucket's")
	}
	skipUnlessEmbedded(t, "the walkthrough is a new user's first run on the default store, and serves its backup of meta.db")
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := readmeWalkthrough(readme)
	if err != nil {
		t.Fatal(err)
	}
	// The walkthrough must keep covering what a new user does first.
	var all strings.Builder
	for _, b := range blocks {
		all.WriteString(b.Script)
	}
	for _, want := range []string{
		"nixbucket serve", "nix-build examples/hello.nix", "copy", "--to 'http://127.0.0.1:9000/nix-cache",
		"nixbucket push", "s3://nix-cache?endpoint=127.0.0.1:9000", "nix-store -r", "bucket create example-nix-cache",
		"examples/policies/seed-anonymous-read.bucket.json", "examples/policies/seed-authenticated-read.bucket.json",
		"examples/policies/seed-upload.iam.json", "token create", "--netrc-file reader.netrc",
		"nixbucket-backup/meta.db", "nixbucket gc nix-cache", "nixbucket pin add", "/-/api/buckets/nix-cache/pins/release",
		"examples/policies/ci-push-pin.iam.json", "/-/metrics",
	} {
		if !strings.Contains(all.String(), want) {
			t.Errorf("the README walkthrough no longer runs %q", want)
		}
	}
	if n := strings.Count(all.String(), "nixbucket serve"); n != 1 || !blocks[0].Background {
		t.Fatalf("the walkthrough must start with the one background block running `nixbucket serve` (found %d)", n)
	}

	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	env := readmeEnv(t)
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(repoRoot, "examples"), filepath.Join(dir, "examples")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { readmeDeleteResult(t, dir) })
	for _, b := range blocks {
		script := strings.ReplaceAll(b.Script, "127.0.0.1:9000", addr)
		where := fmt.Sprintf("README.md:%d", b.Line)
		if b.Background {
			readmeBackground(t, where, env, dir, strings.ReplaceAll(script, "nixbucket serve", "nixbucket serve --listen "+addr), addr)
			continue
		}
		r := runCmd(t, env, dir, "bash", "--noprofile", "--norc", "-eux", "-c", script)
		if r.Err != nil {
			t.Fatalf("%s: the walkthrough block fails: %v\n%s\nstdout:\n%s\nstderr:\n%s", where, r.Err, script, tail(r.Stdout, 4000), tail(r.Stderr, 8000))
		}
		t.Logf("%s: ok", where)
	}
	readmeCheckBackup(t, dir)
	readmeCheckIgnored(t, dir)
}

// readmeCheckIgnored: every file the walkthrough made in the checkout is
// in .gitignore, so a newcomer's `git add .` commits none of them (the
// reader's netrc holds a token, the backup the admin key).
func readmeCheckIgnored(t *testing.T, dir string) {
	t.Helper()
	if r := runCmd(t, os.Environ(), "", "git", "-C", repoRoot, "rev-parse", "--git-dir"); r.Err != nil {
		t.Logf("%s is not a git checkout: .gitignore not checked", repoRoot)
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if name == "examples" {
			continue
		}
		if e.IsDir() {
			name += "/"
		}
		if r := runCmd(t, os.Environ(), repoRoot, "git", "check-ignore", "-q", "--no-index", name); r.Err != nil {
			t.Errorf("the walkthrough made %s in the checkout, and .gitignore does not ignore it (%v)", name, r.Err)
		}
	}
}

// readmeCheckBackup serves the backup the walkthrough took while its
// server ran and checks that it holds what was uploaded before: the 1 MiB
// file (a blob) and the pushed path's narinfo (in meta.db), readable with
// the backed-up credentials.
func readmeCheckBackup(t *testing.T, dir string) {
	t.Helper()
	s := startServerDir(t, filepath.Join(dir, "nixbucket-backup"))
	netrc := nixNetrc(s)
	want, err := os.ReadFile(filepath.Join(dir, "file"))
	if err != nil {
		t.Fatal(err)
	}
	if r := nixHTTP(t, netrc, "GET", s.Endpoint+"/nix-cache/file"); r.Status != 200 || r.Body != string(want) {
		t.Errorf("the backup's nix-cache/file: %d, %d bytes, want 200 with the %d bytes uploaded", r.Status, len(r.Body), len(want))
	}
	path, err := filepath.EvalSymlinks(filepath.Join(dir, "result"))
	if err != nil {
		t.Fatal(err)
	}
	if r := nixHTTP(t, netrc, "GET", s.Endpoint+"/nix-cache/"+nixHashPart(path)+".narinfo"); r.Status != 200 {
		t.Errorf("the backup's narinfo of %s: %d %s", path, r.Status, r.Body)
	}
}

// readmeHealth asks a starting server whether it serves yet.
var readmeHealth = &http.Client{Timeout: 2 * time.Second}

// readmeBackground runs a block that does not return (the server) in the
// background until the test ends, and waits for the server at addr to
// answer.
func readmeBackground(t *testing.T, where string, env []string, dir, script, addr string) {
	t.Helper()
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eu", "-c", script)
	cmd.Env, cmd.Dir = env, dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("%s (background) output:\n%s", where, tail(out.String(), 8000))
		}
	})
	for {
		select {
		case <-exited:
			t.Fatalf("%s: the background block exited: %v\n%s\n%s", where, cmd.ProcessState, script, tail(out.String(), 8000))
		default:
		}
		// The port is bound before the data directory is set up (so a
		// taken port creates nothing), so a connection is accepted before
		// the credentials exist: wait for an answer, as a reader waits
		// for the banner.
		if resp, err := readmeHealth.Get("http://" + addr + "/-/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Logf("%s: serving on %s", where, addr)
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readmeDeleteResult deletes the store path the walkthrough left behind
// as ./result, with its derivation.
func readmeDeleteResult(t *testing.T, dir string) {
	root := filepath.Join(dir, "result")
	path, err := filepath.EvalSymlinks(root)
	if err != nil {
		return
	}
	_ = os.Remove(root)
	paths := []string{path}
	if r := nixRun(t, "nix-store", "--query", "--deriver", path); r.Err == nil && strings.HasPrefix(r.Stdout, "/nix/store/") {
		paths = append(paths, strings.TrimSpace(r.Stdout))
	}
	for _, p := range paths {
		if r := nixRun(t, "nix-store", "--delete", p); r.Err != nil {
			t.Logf("cleanup: nix-store --delete %s: %v\n%s", p, r.Err, tail(r.Stderr, 2000))
		}
	}
}

// TestExamplePolicies checks that the policies the README's Access section
// names are the seed's documents, verbatim.
func TestExamplePolicies(t *testing.T) {
	shared := filepath.Join(sharedDir(t), "fixtures", "policies")
	names, err := filepath.Glob(filepath.Join(shared, "*.json"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no policies in %s (%v)", shared, err)
	}
	for _, want := range names {
		got := filepath.Join(repoRoot, "examples", "policies", filepath.Base(want))
		if _, err := os.Stat(got); err != nil {
			t.Errorf("examples/policies lacks %s: %v", filepath.Base(want), err)
			continue
		}
		sameFile(t, want, got)
	}
}
