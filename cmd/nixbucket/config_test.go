package main

import (
	"bufio"
	"bytes"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// serveFlags returns a fresh flag set with serve's flags, as serve
// defines them, learnt in describing mode.
func serveFlags(t *testing.T) *flag.FlagSet {
	t.Helper()
	var fs *flag.FlagSet
	describing = func(f *flag.FlagSet) { fs = f }
	defer func() { describing = nil }()
	serve([]string{"-h"})
	if fs == nil {
		t.Fatal("serve did not parse with parse")
	}
	return fs
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nixbucket.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigPrecedence: flags > NIXBUCKET_* > file > defaults, for any
// flag of serve, with the file's typed values.
func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, `
listen = "file:1"
data = "/file/data"
region = "file-region"
min-free = "5%"
fastlane = false
max-conns = 100
shutdown-grace = "5s"
`)
	env := map[string]string{
		"NIXBUCKET_LISTEN": "env:2",
		"NIXBUCKET_DATA":   "/env/data",
		"NIXBUCKET_CONFIG": file,
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	fs := serveFlags(t)
	fs.SetOutput(io.Discard)
	if err := fs.Parse([]string{"--listen", "flag:3"}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnvAndFile(fs, lookup); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"listen":         "flag:3",      // flag over environment and file
		"data":           "/env/data",   // environment over file
		"region":         "file-region", // file over default
		"min-free":       "5%",
		"fastlane":       "false",
		"max-conns":      "100",
		"shutdown-grace": "5s",
		"log-level":      "info", // default
		"config":         file,   // from NIXBUCKET_CONFIG
	} {
		if got := fs.Lookup(name).Value.String(); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// TestConfigErrors: an unknown key names the nearest one; a value of the
// wrong kind names its key.
func TestConfigErrors(t *testing.T) {
	for text, want := range map[string]string{
		`lisen = ":1"`:          `unknown key "lisen"; did you mean "listen"?`,
		`frobnicate = 1`:        `unknown key "frobnicate" (the keys are the flags of nixbucket serve -h)`,
		`config = "other.toml"`: `unknown key "config"`,
		`max-conns = "many"`:    `max-conns = many: parse error`,
		`listen = [1]`:          `listen: want a string, number or boolean`,
		`listen = `:             `config `,
	} {
		file := writeFile(t, text)
		fs := serveFlags(t)
		fs.SetOutput(io.Discard)
		if err := fs.Parse([]string{"--config", file}); err != nil {
			t.Fatal(err)
		}
		err := applyEnvAndFile(fs, func(string) (string, bool) { return "", false })
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), file) {
			t.Errorf("%s: error %v, want one naming %s and saying %q", text, err, file, want)
		}
	}
}

// TestConfigExample: nixbucket.toml.example documents every flag of
// serve, is generated from them (go test -update rewrites it), and, with
// every key uncommented, is a configuration serve accepts.
func TestConfigExample(t *testing.T) {
	var b bytes.Buffer
	writeConfigExample(&b, serveFlags(t))
	path := filepath.Join("..", "..", "nixbucket.toml.example")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, b.Bytes()) {
		t.Errorf("nixbucket.toml.example is not what serve's flags give (go test ./cmd/nixbucket -run TestConfigExample -update):\n%s", b.Bytes())
	}
	keys := regexp.MustCompile(`(?m)^#([a-z-]+) = `)
	fs := serveFlags(t)
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "config" && !bytes.Contains(have, []byte("\n#"+f.Name+" = ")) {
			t.Errorf("nixbucket.toml.example lacks %s", f.Name)
		}
	})
	file := writeFile(t, keys.ReplaceAllString(string(have), "$1 = "))
	fs.SetOutput(io.Discard)
	if err := fs.Parse([]string{"--config", file}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnvAndFile(fs, func(string) (string, bool) { return "", false }); err != nil {
		t.Errorf("the example with every key set: %v", err)
	}
}

// TestServeConfigFile runs the built binary with a configuration file:
// it serves where the file says, and NIXBUCKET_LISTEN overrides the file.
func TestServeConfigFile(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, `listen = "127.0.0.1:1"
data = "`+filepath.Join(dir, "data")+`"
log-level = "debug"
region = "eu-test-1"
`)
	cmd := exec.Command(bin, "serve", "--config", file)
	cmd.Env = append(os.Environ(), "NIXBUCKET_LISTEN=127.0.0.1:0", "NIXBUCKET_DATA=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderr)
	var log []string
	for sc.Scan() {
		line := sc.Text()
		log = append(log, line)
		if strings.Contains(line, "nixbucket serving") {
			if !regexp.MustCompile(`endpoint=http://127\.0\.0\.1:[1-9][0-9]+ `).MatchString(line) ||
				!strings.Contains(line, "data="+filepath.Join(dir, "data")) || !strings.Contains(line, "region=eu-test-1") {
				t.Errorf("serving line %q: want the file's data and region, and the environment's listen", line)
			}
			// The log names the version `nixbucket version` prints (a
			// bug report quotes the log), not the linker's "dev".
			out, err := exec.Command(bin, "version").Output()
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(out), "\n")
			if want := "version=" + strings.TrimPrefix(first, "nixbucket "); !strings.HasSuffix(line, " "+want) {
				t.Errorf("serving line %q: want %s, as nixbucket version prints", line, want)
			}
			cmd.Process.Signal(syscall.SIGTERM)
			go io.Copy(io.Discard, stderr)
			return
		}
	}
	t.Fatalf("serve exited without serving:\n%s", strings.Join(log, "\n"))
}
