package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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

// TestNixOSModule parses contrib/nixos/module.nix with Nix 2.8, and
// evaluates it with a stub of the nixpkgs lib functions it uses
// (testdata/nixos-module-eval.nix; nixpkgs itself is not here offline):
// it must declare the documented options and turn them into the unit.
func TestNixOSModule(t *testing.T) {
	inst := need(t, "nix-instantiate")
	path := filepath.Join(repoRoot, "contrib", "nixos", "module.nix")
	// Read here too, so that go test's cache sees the files Nix reads.
	deployFile(t, "contrib/nixos/module.nix")
	deployFile(t, "e2e/testdata/nixos-module-eval.nix")
	r := runCmd(t, os.Environ(), "", inst, "--parse", path)
	if r.Err != nil {
		t.Fatalf("nix-instantiate --parse %s: %v\n%s", path, r.Err, r.Stderr)
	}
	type result struct {
		Options  []string
		Enabled  bool
		Firewall []int
		Service  struct {
			ExecStart, Type     string
			StateDirectory      []string
			ReadWritePaths      []string
			AmbientCapabilities []string
		}
	}
	eval := func(args ...string) result {
		t.Helper()
		args = append([]string{"--eval", "--strict", "--json", filepath.Join("e2e", "testdata", "nixos-module-eval.nix"),
			"--arg", "module", "./contrib/nixos/module.nix"}, args...)
		r := runCmd(t, os.Environ(), repoRoot, inst, args...)
		if r.Err != nil {
			t.Fatalf("nix-instantiate %s: %v\n%s", strings.Join(args, " "), r.Err, r.Stderr)
		}
		var res result
		if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
			t.Fatalf("nix-instantiate %s: %v\n%s", strings.Join(args, " "), err, r.Stdout)
		}
		return res
	}

	def := eval()
	wantOpts := []string{"dataDir", "enable", "environmentFile", "extraFlags", "listen", "openFirewall", "package"}
	if !slices.Equal(def.Options, wantOpts) {
		t.Errorf("options %v, want %v", def.Options, wantOpts)
	}
	bin := "/nix/store/00000000000000000000000000000000-nixbucket/bin/nixbucket"
	if want := "'" + bin + "' 'serve' '--listen' '127.0.0.1:9000' '--data' '/var/lib/nixbucket'"; def.Service.ExecStart != want {
		t.Errorf("default ExecStart %q, want %q", def.Service.ExecStart, want)
	}
	if !def.Enabled || def.Service.Type != "notify" || !slices.Equal(def.Service.StateDirectory, []string{"nixbucket"}) || len(def.Firewall) != 0 || len(def.Service.AmbientCapabilities) != 0 {
		t.Errorf("defaults: %+v", def)
	}
	deployServeFlags(t, "module.nix", strings.Fields(strings.ReplaceAll(def.Service.ExecStart, "'", "")))

	set := eval("--argstr", "listen", "0.0.0.0:443", "--argstr", "dataDir", "/srv/nixbucket", "--arg", "openFirewall", "true",
		"--arg", "extraFlags", `[ "--log-level" "debug" ]`)
	if want := "'" + bin + "' 'serve' '--listen' '0.0.0.0:443' '--data' '/srv/nixbucket' '--log-level' 'debug'"; set.Service.ExecStart != want {
		t.Errorf("ExecStart %q, want %q", set.Service.ExecStart, want)
	}
	if !slices.Equal(set.Firewall, []int{443}) || len(set.Service.StateDirectory) != 0 ||
		!slices.Equal(set.Service.ReadWritePaths, []string{"/srv/nixbucket"}) ||
		!slices.Equal(set.Service.AmbientCapabilities, []string{"CAP_NET_BIND_SERVICE"}) {
		t.Errorf("listen 0.0.0.0:443, dataDir /srv/nixbucket, openFirewall: %+v", set)
	}
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
