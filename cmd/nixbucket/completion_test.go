package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// script writes nixbucket completion SHELL's output to a file.
func script(t *testing.T, shell string) string {
	t.Helper()
	r := run(t, nil, "completion", shell)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("nixbucket completion %s: exit %d: %s", shell, r.code, r.stderr)
	}
	path := filepath.Join(t.TempDir(), "nixbucket."+shell)
	if err := os.WriteFile(path, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCompletionBash sources the bash script and completes as bash would.
func TestCompletionBash(t *testing.T) {
	path := script(t, "bash")
	if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	for line, want := range map[string]string{
		"nixbucket se":                         "serve",
		"nixbucket ":                           "serve user token bucket pin gc verify path migrate info use push proxy version completion help",
		"nixbucket migrate --to-b":             "--to-blobs",
		"nixbucket user k":                     "key",
		"nixbucket user key ":                  "create disable enable delete",
		"nixbucket bucket key gen":             "generate",
		"nixbucket serve --lis":                "--listen",
		"nixbucket serve --min":                "--min-free",
		"nixbucket serve --con":                "--config",
		"nixbucket user create --data d --pol": "--policy",
		"nixbucket push --st":                  "--stall-timeout --stdin --store-dir",
		"nixbucket completion ":                "bash zsh fish",
		"nixbucket help to":                    "token",
		"nixbucket user --data d cr":           "create",
		"nixbucket pin ":                       "add list remove",
	} {
		words := strings.Fields(line)
		if strings.HasSuffix(line, " ") {
			words = append(words, "")
		}
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+w+"'")
		}
		prog := "source " + path + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\nCOMP_CWORD=" +
			strconv.Itoa(len(words)-1) + "\n_nixbucket\necho \"${COMPREPLY[*]}\"\n"
		out, err := exec.Command("bash", "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", line, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != want {
			t.Errorf("completing %q: got %q, want %q", line, got, want)
		}
	}
}

// TestCompletionZsh checks the zsh script's syntax when zsh is installed,
// and its structure always.
func TestCompletionZsh(t *testing.T) {
	path := script(t, "zsh")
	b, _ := os.ReadFile(path)
	s := string(b)
	for _, want := range []string{"#compdef nixbucket\n", "compdef _nixbucket nixbucket", `("user key") flags=(); cands=('create:`, `'--listen:address to listen on'`, `"/serve"|`} {
		if !strings.Contains(s, want) {
			t.Errorf("zsh script lacks %q", want)
		}
	}
	if zsh, err := exec.LookPath("zsh"); err == nil {
		if out, err := exec.Command(zsh, "-n", path).CombinedOutput(); err != nil {
			t.Errorf("zsh -n: %v\n%s", err, out)
		}
	}
}

// TestCompletionFish checks the fish script's syntax when fish is
// installed, and its structure always.
func TestCompletionFish(t *testing.T) {
	path := script(t, "fish")
	b, _ := os.ReadFile(path)
	s := string(b)
	for _, want := range []string{
		"complete -c nixbucket -f -n '__nixbucket_at \"\"' -a 'serve' -d 'run the server'\n",
		"complete -c nixbucket -f -n '__nixbucket_at \"user key\"' -a 'create'",
		"complete -c nixbucket -n '__nixbucket_at \"serve\"' -l listen -r -d 'address to listen on'\n",
		"complete -c nixbucket -n '__nixbucket_at \"serve\"' -l strict-region -d",
		"complete -c nixbucket -f -n '__nixbucket_at \"completion\"' -a 'fish'\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("fish script lacks %q", want)
		}
	}
	if fish, err := exec.LookPath("fish"); err == nil {
		if out, err := exec.Command(fish, "-n", path).CombinedOutput(); err != nil {
			t.Errorf("fish -n: %v\n%s", err, out)
		}
	}
}

// TestCompletionCoversTable: every command path of the table is in every
// script, so the scripts cannot fall behind the table.
func TestCompletionCoversTable(t *testing.T) {
	for _, shell := range shells {
		b, _ := os.ReadFile(script(t, shell))
		for _, p := range paths() {
			edge := strings.Join(p[:len(p)-1], " ") + "/" + p[len(p)-1]
			if !strings.Contains(string(b), edge) {
				t.Errorf("%s script lacks %q", shell, edge)
			}
		}
	}
}
