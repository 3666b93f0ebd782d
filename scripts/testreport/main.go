// Command testreport reads `go test -json` on standard input and prints
// what a person needs from it: each package's result line, the whole
// output of every failed test, and one line per skipped test. It exits
// non-zero when a test failed, or, with -deny-skips, when a test skipped
// that the allow-list does not name: under CI every peer program is
// installed, so a skip there means an install step or a fixture is missing.
//
// The allow-list has one line per test, "PACKAGE TEST  # why", where TEST
// may be a prefix ending in "*"; blank lines and lines starting with # are
// ignored.
//
// With -pass NAME the run is a second pass of packages run before (the
// e2e suite on the PostgreSQL store, say): its packages are reported and
// matched against the allow-list as PACKAGE@NAME, so a skip allowed in
// that pass only is not allowed in the first.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type key struct{ pkg, test string }

func main() {
	allowFile := flag.String("allow", "", "allow-list of tests that may skip")
	denySkips := flag.Bool("deny-skips", false, "fail when a test not on the allow-list skipped")
	pass := flag.String("pass", "", "name of this pass: packages are reported as PACKAGE@NAME")
	flag.Parse()
	allow, err := readAllow(*allowFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	r := newReport(os.Stdout)
	r.pass = *pass
	if err := r.read(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	os.Exit(r.finish(allow, *denySkips))
}

// report accumulates the events of one go test run.
type report struct {
	out     io.Writer
	pass    string           // -pass, or ""
	pending map[key][]string // output of tests still running
	skipped []key
	failed  int
	passed  int
}

func newReport(out io.Writer) *report {
	return &report{out: out, pending: map[key][]string{}}
}

func (r *report) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// go test prints build errors and some panics as plain text.
			fmt.Fprintf(r.out, "%s\n", line)
			continue
		}
		r.event(e)
	}
	return sc.Err()
}

func (r *report) event(e event) {
	if r.pass != "" && e.Package != "" {
		named := e.Package + "@" + r.pass
		if e.Test == "" { // the package's "ok"/"FAIL" line names it
			e.Output = strings.Replace(e.Output, e.Package, named, 1)
		}
		e.Package = named
	}
	k := key{e.Package, e.Test}
	switch {
	case e.Test == "" && e.Action == "output":
		if e.Output != "PASS\n" { // the "ok" line that follows says it
			fmt.Fprint(r.out, e.Output)
		}
	case e.Test == "":
		if e.Action == "fail" {
			r.failed++
			r.unfinished(e.Package)
		}
	case e.Action == "output":
		r.pending[k] = append(r.pending[k], e.Output)
	case e.Action == "pass":
		r.passed++
		delete(r.pending, k)
	case e.Action == "skip":
		r.skipped = append(r.skipped, k)
		for _, l := range r.pending[k] {
			if strings.Contains(l, "--- SKIP") || strings.Contains(l, "_test.go:") {
				fmt.Fprintf(r.out, "%s: %s", e.Package, l)
			}
		}
		delete(r.pending, k)
	case e.Action == "fail":
		r.failed++
		fmt.Fprint(r.out, strings.Join(r.pending[k], ""))
		delete(r.pending, k)
	}
}

// unfinishedPanicLines bounds what is shown of a package's panic (a test
// timeout dumps every goroutine): the head names the tests that were
// running and the goroutine of the one that panicked.
const unfinishedPanicLines = 60

// unfinished prints the output of pkg's tests that never ended (go test
// attributes a timeout's or a crash's panic to a running test and then
// sends no event for it): their logs in full, the panic's head.
func (r *report) unfinished(pkg string) {
	var keys []key
	for k := range r.pending {
		if k.pkg == pkg {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].test < keys[j].test })
	for _, k := range keys {
		lines := r.pending[k]
		delete(r.pending, k)
		fmt.Fprintf(r.out, "testreport: %s %s did not finish; its output:\n", k.pkg, k.test)
		for i, l := range lines {
			if strings.HasPrefix(l, "panic: ") {
				lines = lines[:min(len(lines), i+unfinishedPanicLines)]
				break
			}
		}
		fmt.Fprint(r.out, strings.Join(lines, ""))
	}
}

// finish prints the summary and returns the exit code.
func (r *report) finish(allow []allowed, denySkips bool) int {
	var unexplained []string
	for _, k := range r.skipped {
		if !permitted(allow, k) {
			unexplained = append(unexplained, k.pkg+" "+k.test)
		}
	}
	sort.Strings(unexplained)
	code := 0
	if r.failed > 0 {
		code = 1
	}
	if denySkips && len(unexplained) > 0 {
		fmt.Fprintln(r.out, "testreport: these tests skipped, and CI=true allows no skip that scripts/skip-allow.txt does not explain:")
		for _, u := range unexplained {
			fmt.Fprintln(r.out, "  "+u)
		}
		code = 1
	}
	pass := ""
	if r.pass != "" {
		pass = " (pass " + r.pass + ")"
	}
	fmt.Fprintf(r.out, "testreport%s: %d passed, %d failed, %d skipped\n", pass, r.passed, r.failed, len(r.skipped))
	return code
}

type allowed struct {
	pkg, test string
	prefix    bool
}

func permitted(allow []allowed, k key) bool {
	for _, a := range allow {
		if a.pkg != k.pkg {
			continue
		}
		if a.test == k.test || a.prefix && strings.HasPrefix(k.test, a.test) {
			return true
		}
	}
	return false
}

func readAllow(file string) ([]allowed, error) {
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var list []allowed
	for i, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("%s:%d: want \"PACKAGE TEST  # why\"", file, i+1)
		}
		a := allowed{pkg: f[0], test: f[1]}
		a.test, a.prefix = strings.CutSuffix(a.test, "*")
		list = append(list, a)
	}
	return list, nil
}
