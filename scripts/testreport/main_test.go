package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

const run = `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"p","Test":"TestA","Output":"--- PASS: TestA (0.00s)\n"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:9: nix-store not installed\n"}
{"Action":"output","Package":"p","Test":"TestB","Output":"--- SKIP: TestB (0.00s)\n"}
{"Action":"skip","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Test":"TestQuirk/versitygw","Output":"--- SKIP: TestQuirk/versitygw (0.00s)\n"}
{"Action":"skip","Package":"p","Test":"TestQuirk/versitygw"}
{"Action":"output","Package":"p","Test":"TestC","Output":"    c_test.go:3: boom\n"}
{"Action":"fail","Package":"p","Test":"TestC"}
{"Action":"output","Package":"p","Output":"FAIL\tp\t0.1s\n"}
{"Action":"fail","Package":"p"}
`

func TestReport(t *testing.T) {
	allow := []allowed{{pkg: "p", test: "TestQuirk/", prefix: true}}
	tests := []struct {
		name      string
		allow     []allowed
		denySkips bool
		code      int
		want      []string
	}{
		{"skips allowed", allow, false, 1, []string{"c_test.go:3: boom", "FAIL\tp", "b_test.go:9: nix-store not installed", "testreport: 1 passed, 2 failed, 2 skipped\n"}},
		{"skips denied", allow, true, 1, []string{"  p TestB\n"}},
	}
	for _, tt := range tests {
		var out strings.Builder
		r := newReport(&out)
		if err := r.read(strings.NewReader(run)); err != nil {
			t.Fatal(err)
		}
		if code := r.finish(tt.allow, tt.denySkips); code != tt.code {
			t.Errorf("%s: exit code %d, want %d", tt.name, code, tt.code)
		}
		for _, w := range tt.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", tt.name, w, out.String())
			}
		}
		if strings.Contains(out.String(), "TestQuirk/versitygw\n  ") || strings.Contains(out.String(), "  p TestQuirk") {
			t.Errorf("%s: an allowed skip is listed as unexplained:\n%s", tt.name, out.String())
		}
	}
}

// TestDenySkipsOnly: a run whose only problem is an unexplained skip fails
// under -deny-skips and passes without it.
func TestDenySkipsOnly(t *testing.T) {
	in := `{"Action":"output","Package":"p","Test":"TestB","Output":"--- SKIP: TestB (0.00s)\n"}
{"Action":"skip","Package":"p","Test":"TestB"}
`
	for _, deny := range []bool{false, true} {
		var out strings.Builder
		r := newReport(&out)
		if err := r.read(strings.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		want := 0
		if deny {
			want = 1
		}
		if code := r.finish(nil, deny); code != want {
			t.Errorf("deny-skips=%v: exit code %d, want %d", deny, code, want)
		}
	}
}

// TestPass: a second pass's packages are PACKAGE@NAME, in the output and
// for the allow-list, so a skip allowed in that pass only fails the first.
func TestPass(t *testing.T) {
	in := `{"Action":"output","Package":"p","Test":"TestB","Output":"--- SKIP: TestB (0.00s)\n"}
{"Action":"skip","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}
{"Action":"pass","Package":"p"}
`
	allow := []allowed{{pkg: "p@pg", test: "TestB"}}
	for _, tt := range []struct {
		pass string
		code int
		want string
	}{
		{"", 1, "testreport: 0 passed, 0 failed, 1 skipped\n"},
		{"pg", 0, "ok  \tp@pg\t0.1s\ntestreport (pass pg): 0 passed, 0 failed, 1 skipped\n"},
	} {
		var out strings.Builder
		r := newReport(&out)
		r.pass = tt.pass
		if err := r.read(strings.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		if code := r.finish(allow, true); code != tt.code {
			t.Errorf("pass %q: exit code %d, want %d\n%s", tt.pass, code, tt.code, out.String())
		}
		if !strings.Contains(out.String(), tt.want) {
			t.Errorf("pass %q: output lacks %q:\n%s", tt.pass, tt.want, out.String())
		}
	}
}

func TestReadAllow(t *testing.T) {
	f := t.TempDir() + "/allow"
	if err := writeFile(f, "# comment\n\ngithub.com/x/e2e TestQuirk/*  # versitygw only\n"); err != nil {
		t.Fatal(err)
	}
	list, err := readAllow(f)
	if err != nil || len(list) != 1 || !list[0].prefix || list[0].test != "TestQuirk/" {
		t.Fatalf("readAllow = %+v, %v", list, err)
	}
	if err := writeFile(f, "only-one-field\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := readAllow(f); err == nil {
		t.Error("a malformed line was accepted")
	}
}

func writeFile(name, s string) error { return os.WriteFile(name, []byte(s), 0o644) }

// TestUnfinished: a package that times out sends no event for its running
// tests; their logs and the head of the panic are shown, not the whole
// goroutine dump.
func TestUnfinished(t *testing.T) {
	var in strings.Builder
	out := func(test, s string) {
		fmt.Fprintf(&in, `{"Action":"output","Package":"p","Test":%q,"Output":%q}`+"\n", test, s)
	}
	fmt.Fprintln(&in, `{"Action":"run","Package":"p","Test":"TestHang"}`)
	out("TestHang", "    hang_test.go:7: waiting for the server\n")
	out("TestHang", "panic: test timed out after 20m0s\n")
	out("TestHang", "\trunning tests:\n")
	out("TestHang", "\t\tTestHang (19m58s)\n")
	for i := range 500 {
		out("TestHang", fmt.Sprintf("goroutine %d [select]:\n", i))
	}
	fmt.Fprintln(&in, `{"Action":"output","Package":"p","Output":"FAIL\tp\t1200.0s\n"}`)
	fmt.Fprintln(&in, `{"Action":"fail","Package":"p"}`)
	var got strings.Builder
	r := newReport(&got)
	if err := r.read(strings.NewReader(in.String())); err != nil {
		t.Fatal(err)
	}
	if code := r.finish(nil, false); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for _, w := range []string{"p TestHang did not finish", "hang_test.go:7: waiting for the server", "\t\tTestHang (19m58s)", "goroutine 10 [select]"} {
		if !strings.Contains(got.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, got.String())
		}
	}
	if strings.Contains(got.String(), "goroutine 400 ") {
		t.Errorf("the whole goroutine dump was printed:\n%.2000s", got.String())
	}
}
