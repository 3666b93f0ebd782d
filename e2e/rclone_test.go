package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rcloneEntry is one object of `rclone lsjson --hash`.
type rcloneEntry struct {
	Path    string
	Size    int64
	ModTime time.Time
	IsDir   bool
	Hashes  map[string]string
}

// testRclone drives the server with rclone's S3 backend: mkdir, copy of a
// tree with a multipart file, lsl, lsjson hashes and mtimes (stored as
// metadata), check (by hash and by download), cat, delete, rmdir.
func testRclone(t *testing.T, s *Server) {
	dir := t.TempDir()
	conf, env := rcloneRemote(t, s, dir)
	rclone := func(args ...string) string {
		t.Helper()
		return mustRun(t, env, dir, "rclone", append([]string{"--config", conf, "--retries", "1", "--low-level-retries", "1"}, args...)...)
	}

	src := filepath.Join(dir, "src")
	files := map[string]string{ // path → contents ("" means random)
		"big.bin":                    "",
		"a.txt":                      "alpha\n",
		"sub/b.txt":                  "beta\n",
		"sub/name with spaces ü.txt": "gamma\n",
	}
	for p, body := range files {
		full := filepath.Join(src, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if body == "" {
			writeRandomFile(t, full, 12_000_000, 3) // 3 parts of 5 MiB
		} else if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const remote = "nb:rclone-e2e"

	rclone("mkdir", remote)
	rclone("copy", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", src, remote+"/data")

	lsl := map[string]string{}
	for _, line := range strings.Split(rclone("lsl", remote), "\n") {
		if f := strings.Fields(line); len(f) >= 4 {
			lsl[strings.Join(f[3:], " ")] = f[0]
		}
	}
	var entries []rcloneEntry
	if err := json.Unmarshal([]byte(rclone("lsjson", "--hash", "-R", "--files-only", remote)), &entries); err != nil {
		t.Fatalf("rclone lsjson: %v", err)
	}
	if len(lsl) != len(files) || len(entries) != len(files) {
		t.Errorf("rclone lsl: %v; lsjson: %+v; want the %d files copied", lsl, entries, len(files))
	}
	for _, e := range entries {
		local := filepath.Join(src, strings.TrimPrefix(e.Path, "data/"))
		fi, err := os.Stat(local)
		if err != nil {
			t.Errorf("rclone lsjson lists %q, which was not copied", e.Path)
			continue
		}
		if e.Size != fi.Size() || lsl[e.Path] != fmt.Sprint(fi.Size()) {
			t.Errorf("%s: lsjson size %d, lsl size %s, want %d", e.Path, e.Size, lsl[e.Path], fi.Size())
		}
		if want := fileMD5(t, local); e.Hashes["md5"] != want {
			t.Errorf("%s: md5 %q, want %q", e.Path, e.Hashes["md5"], want)
		}
		if !e.ModTime.Truncate(time.Millisecond).Equal(fi.ModTime().Truncate(time.Millisecond)) {
			t.Errorf("%s: mtime %v, want %v (rclone keeps it in x-amz-meta-mtime)", e.Path, e.ModTime, fi.ModTime())
		}
	}

	for _, mode := range [][]string{nil, {"--download"}} {
		args := append([]string{"check"}, mode...)
		r := runCmd(t, env, dir, "rclone", append(append([]string{"--config", conf}, args...), src, remote+"/data")...)
		if r.Err != nil || !strings.Contains(r.Stderr, "0 differences found") {
			t.Errorf("rclone check %v: %v\n%s", mode, r.Err, tail(r.Stderr, 4000))
		}
	}
	if got := rclone("cat", remote+"/data/sub/name with spaces ü.txt"); got != "gamma\n" {
		t.Errorf("rclone cat: %q, want %q", got, "gamma\n")
	}
	back := filepath.Join(dir, "back")
	rclone("copy", remote+"/data", back)
	sameFile(t, filepath.Join(src, "big.bin"), filepath.Join(back, "big.bin"))

	rclone("delete", remote+"/data/a.txt")
	if got := rclone("lsf", "-R", "--files-only", remote); strings.Contains(got, "a.txt") || !strings.Contains(got, "big.bin") {
		t.Errorf("rclone lsf after deleting a.txt:\n%s", got)
	}
	rclone("delete", remote)
	if got := rclone("lsf", "-R", remote); got != "" {
		t.Errorf("rclone lsf after delete: %q, want nothing", got)
	}
	rclone("rmdir", remote)
	if got := rclone("lsf", "nb:"); strings.Contains(got, "rclone-e2e") {
		t.Errorf("rclone lsf nb: still lists the bucket after rmdir:\n%s", got)
	}
}

// rcloneRemote configures the rclone remote "nb:" for s (path-style, its
// admin key) through the environment, with an empty config file in dir:
// it returns the file's path (for --config) and the environment.
func rcloneRemote(t *testing.T, s *Server, dir string) (conf string, env []string) {
	t.Helper()
	conf = filepath.Join(dir, "rclone.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return conf, s.clientEnv(
		"RCLONE_CONFIG_NB_TYPE=s3",
		"RCLONE_CONFIG_NB_PROVIDER=Other",
		"RCLONE_CONFIG_NB_ENDPOINT="+s.Endpoint,
		"RCLONE_CONFIG_NB_ACCESS_KEY_ID="+s.AccessKey,
		"RCLONE_CONFIG_NB_SECRET_ACCESS_KEY="+s.SecretKey,
		"RCLONE_CONFIG_NB_REGION="+s.Region,
		"RCLONE_CONFIG_NB_FORCE_PATH_STYLE=true",
	)
}
