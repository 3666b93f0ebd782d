package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// deployFile reads a file of the repository.
func deployFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// deployServeFlags fails the test unless every --flag of args is a flag of
// `nixbucket serve`, as its usage lists them.
func deployServeFlags(t *testing.T, what string, args []string) {
	t.Helper()
	setupTarget(t)
	if target != targetNixbucket {
		t.Skipf("%s is not nixbucket", target)
	}
	// The usage goes to stderr; --help exits 0 or 2 depending on the
	// version, so only the text counts.
	r := runCmd(t, os.Environ(), "", serverBin, "serve", "--help")
	usage := r.Stdout + r.Stderr
	for _, a := range args {
		if !strings.HasPrefix(a, "--") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !regexp.MustCompile(`(?m)^\s+--?` + regexp.QuoteMeta(name) + `\b`).MatchString(usage) {
			t.Errorf("%s passes %s, which `nixbucket serve --help` does not list:\n%s", what, a, usage)
		}
	}
}

// TestSystemdUnit checks contrib/systemd/nixbucket.service with
// systemd-analyze verify (with ExecStart pointing at the binary under
// test, since verify wants it to exist) and that its ExecStart names only
// flags serve has.
func TestSystemdUnit(t *testing.T) {
	analyze := need(t, "systemd-analyze")
	unit := deployFile(t, "contrib/systemd/nixbucket.service")
	m := regexp.MustCompile(`(?m)^ExecStart=(\S+) (.*)$`).FindStringSubmatch(unit)
	if m == nil {
		t.Fatal("no ExecStart= line in nixbucket.service")
	}
	for _, want := range []string{"Type=notify", "StateDirectory=nixbucket", "ProtectSystem=strict", "NoNewPrivileges=yes", "--data /var/lib/nixbucket"} {
		if !strings.Contains(unit, want) {
			t.Errorf("nixbucket.service lacks %q", want)
		}
	}
	deployServeFlags(t, "ExecStart", strings.Fields(m[2]))
	// The unit's name must stay nixbucket.service for verify's checks.
	path := filepath.Join(t.TempDir(), "nixbucket.service")
	if err := os.WriteFile(path, []byte(strings.Replace(unit, "ExecStart="+m[1], "ExecStart="+serverBin, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, os.Environ(), "", analyze, "verify", path)
	if r.Err != nil || strings.TrimSpace(r.Stderr+r.Stdout) != "" {
		t.Fatalf("systemd-analyze verify nixbucket.service: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
}

// TestNixOSModuleParses parses contrib/nixos/module.nix with Nix 2.8
// (evaluating it needs nixpkgs' lib, which is not here offline) and checks
// it declares the documented options.
func TestNixOSModuleParses(t *testing.T) {
	inst := need(t, "nix-instantiate")
	path := filepath.Join(repoRoot, "contrib", "nixos", "module.nix")
	r := runCmd(t, os.Environ(), "", inst, "--parse", path)
	if r.Err != nil {
		t.Fatalf("nix-instantiate --parse %s: %v\n%s", path, r.Err, r.Stderr)
	}
	src := deployFile(t, "contrib/nixos/module.nix")
	for _, opt := range []string{"enable", "package", "listen", "dataDir", "extraFlags", "openFirewall", "environmentFile"} {
		if !regexp.MustCompile(`(?m)^\s+` + opt + ` = mk(Option|EnableOption)\b`).MatchString(src) {
			t.Errorf("module.nix declares no option services.nixbucket.%s", opt)
		}
	}
	deployServeFlags(t, "module.nix", []string{"--listen", "--data"})
}

// TestContainerfile checks that the Containerfile builds with the Go of
// go.mod and runs serve with flags it has, on the port it exposes and the
// volume it declares (it is not built here: no container engine runs).
func TestContainerfile(t *testing.T) {
	cf := deployFile(t, "Containerfile")
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(deployFile(t, "go.mod"))
	if goVersion == nil || !strings.Contains(cf, "golang:"+goVersion[1]+" ") {
		t.Errorf("Containerfile does not build FROM golang:%v (go.mod)", goVersion)
	}
	for _, want := range []string{
		"EXPOSE 9000", "VOLUME /var/lib/nixbucket",
		`CMD ["serve", "--listen", "0.0.0.0:9000", "--data", "/var/lib/nixbucket"]`,
	} {
		if !strings.Contains(cf, want) {
			t.Errorf("Containerfile lacks %q", want)
		}
	}
	deployServeFlags(t, "Containerfile", []string{"--listen", "--data"})
	for _, ignore := range []string{".dockerignore", ".containerignore"} {
		if !strings.Contains(deployFile(t, ignore), "nixbucket-data") {
			t.Errorf("%s does not keep nixbucket-data (credentials) out of the build context", ignore)
		}
	}
}
