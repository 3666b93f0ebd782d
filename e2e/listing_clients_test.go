package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestListingClientsAgree lists a bucket of several 1,000-key pages with
// the aws CLI (ListObjectsV2 and ListObjects, recursive and by
// delimiter), s3cmd and rclone (its v1 and v2 listings), after rclone
// uploaded it: each must see exactly the keys uploaded, spaces, "+" and
// non-ASCII included, and the same folders, so paging by continuation
// token, NextMarker and common prefix loses and repeats nothing.
func TestListingClientsAgree(t *testing.T) {
	for _, p := range []string{"aws", "s3cmd", "rclone"} {
		need(t, p)
	}
	s := startServer(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	var keys []string
	add := func(key string) {
		keys = append(keys, key)
		full := filepath.Join(src, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	name := func(i int) string {
		n := fmt.Sprintf("k%04d", i)
		if i%10 == 0 {
			n += " sp"
		}
		if i%13 == 0 {
			n += "+ü"
		}
		return n + ".txt"
	}
	for i := range 2100 {
		add(fmt.Sprintf("deep/d%d/%s", i%4, name(i)))
	}
	for i := range 1150 {
		add("flat/" + name(i))
	}
	var subs []string
	for j := range 120 {
		subs = append(subs, fmt.Sprintf("sub%03d/", j))
		add(fmt.Sprintf("flat/sub%03d/x", j))
	}
	slices.Sort(keys)

	const b = "listing-clients"
	conf, rcloneEnv := rcloneRemote(t, s, dir)
	rclone := func(args ...string) string {
		t.Helper()
		return mustRun(t, rcloneEnv, dir, "rclone", append([]string{"--config", conf, "--retries", "1", "--low-level-retries", "1"}, args...)...)
	}
	rclone("mkdir", "nb:"+b)
	rclone("copy", "--transfers", "16", "--checkers", "16", src, "nb:"+b)

	env := s.clientEnv()
	aws := func(args ...string) string {
		t.Helper()
		return mustRun(t, env, dir, "aws", append([]string{"--endpoint-url", s.Endpoint, "--profile", "nixbucket"}, args...)...)
	}
	cfg := s3cmdConfig(t, s, dir)
	s3cmd := func(args ...string) string {
		t.Helper()
		return mustRun(t, env, dir, "s3cmd", append([]string{"-c", cfg}, args...)...)
	}
	same := func(what string, got, want []string) {
		t.Helper()
		slices.Sort(got)
		if !slices.Equal(got, want) {
			extra, missing := diffSorted(got, want)
			t.Errorf("%s: %d keys, want %d; extra %q, missing %q", what, len(got), len(want), head(extra, 5), head(missing, 5))
		}
	}
	jsonKeys := func(out string) []string {
		t.Helper()
		var ks []string
		if err := json.Unmarshal([]byte(out), &ks); err != nil {
			t.Fatalf("%v\n%s", err, tail(out, 2000))
		}
		return ks
	}

	same("aws s3api list-objects-v2", jsonKeys(aws("s3api", "list-objects-v2", "--bucket", b, "--query", "Contents[].Key", "--output", "json")), keys)
	same("aws s3api list-objects", jsonKeys(aws("s3api", "list-objects", "--bucket", b, "--query", "Contents[].Key", "--output", "json")), keys)
	lsLine := regexp.MustCompile(`^\S+ \S+ +\d+ (.+)$`)
	var got []string
	for _, line := range strings.Split(aws("s3", "ls", "--recursive", "s3://"+b), "\n") {
		if m := lsLine.FindStringSubmatch(line); m != nil {
			got = append(got, m[1])
		}
	}
	same("aws s3 ls --recursive", got, keys)
	same("s3cmd ls --recursive", s3cmdKeys(s3cmd("ls", "--recursive", "s3://"+b+"/"), b, ""), keys)
	same("rclone lsf -R", lines(rclone("lsf", "-R", "--files-only", "nb:"+b)), keys)
	same("rclone lsf -R (ListObjects v1)", lines(rclone("lsf", "-R", "--files-only", "--s3-list-version", "1", "nb:"+b)), keys)

	// One folder of 1,150 objects and 120 subfolders, listed by delimiter.
	var flat []string
	for _, k := range keys {
		if rest, ok := strings.CutPrefix(k, "flat/"); ok && !strings.Contains(rest, "/") {
			flat = append(flat, rest)
		}
	}
	wantFlat := slices.Sorted(slices.Values(append(slices.Clone(flat), subs...)))
	got = nil
	for _, line := range strings.Split(aws("s3", "ls", "s3://"+b+"/flat/"), "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "PRE "); ok {
			got = append(got, p)
		} else if m := lsLine.FindStringSubmatch(line); m != nil {
			got = append(got, m[1])
		}
	}
	same("aws s3 ls flat/", got, wantFlat)

	// A marker (or start-after) within a common prefix: that prefix sorts
	// before it and is not listed again, as Ceph RGW and versitygw answer.
	marker := "deep/d1/" + name(1)
	want := []string{"deep/d2/", "deep/d3/"}
	same("list-objects-v2 --start-after within deep/d1/", jsonKeys(aws("s3api", "list-objects-v2", "--bucket", b, "--prefix", "deep/", "--delimiter", "/",
		"--start-after", marker, "--query", "CommonPrefixes[].Prefix", "--output", "json")), want)
	same("list-objects --marker within deep/d1/", jsonKeys(aws("s3api", "list-objects", "--bucket", b, "--prefix", "deep/", "--delimiter", "/",
		"--no-paginate", "--marker", marker, "--query", "CommonPrefixes[].Prefix", "--output", "json")), want)
	same("s3cmd ls flat/", s3cmdKeys(s3cmd("ls", "s3://"+b+"/flat/"), b, "flat/"), wantFlat)
	same("rclone lsf flat", lines(rclone("lsf", "nb:"+b+"/flat")), wantFlat)
}

// s3cmdKeys reads the keys (files and DIR prefixes) of an s3cmd ls of
// bucket b, relative to prefix: what follows "s3://b/prefix" on each line,
// spaces included.
func s3cmdKeys(out, b, prefix string) []string {
	var ks []string
	for _, line := range strings.Split(out, "\n") {
		if _, k, ok := strings.Cut(line, "s3://"+b+"/"+prefix); ok {
			ks = append(ks, k)
		}
	}
	return ks
}

// lines splits out into its non-empty lines.
func lines(out string) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if l != "" {
			ls = append(ls, l)
		}
	}
	return ls
}

// diffSorted returns what sorted got has that sorted want lacks, and the
// reverse.
func diffSorted(got, want []string) (extra, missing []string) {
	i, j := 0, 0
	for i < len(got) || j < len(want) {
		switch {
		case j == len(want) || (i < len(got) && got[i] < want[j]):
			extra = append(extra, got[i])
			i++
		case i == len(got) || want[j] < got[i]:
			missing = append(missing, want[j])
			j++
		default:
			i, j = i+1, j+1
		}
	}
	return extra, missing
}

// head is at most the first n of s.
func head(s []string, n int) []string { return s[:min(n, len(s))] }

// TestListUploadsPagedByDelimiter pages ListMultipartUploads with a
// delimiter through the aws CLI, one entry a page: a page ending in a
// common prefix gives it as NextKeyMarker, and the next page must start
// beyond that prefix's uploads. It started within them, rolled them up
// into the same prefix again, and never ended (botocore gives up: "The
// same next token was received twice").
func TestListUploadsPagedByDelimiter(t *testing.T) {
	need(t, "aws")
	s := startServer(t)
	if s.hasQuirk(quirkUploadMarker) {
		t.Skipf("%s: not checked", versitygwQuirks[quirkUploadMarker])
	}
	dir := t.TempDir()
	env := s.clientEnv()
	aws := func(args ...string) string {
		t.Helper()
		return mustRun(t, env, dir, "aws", append([]string{"--endpoint-url", s.Endpoint, "--profile", "nixbucket"}, args...)...)
	}
	const b = "uploads-paged"
	aws("s3", "mb", "s3://"+b)
	for _, k := range []string{"a/x", "a/y", "b", "c/d/e", "c/z"} {
		aws("s3api", "create-multipart-upload", "--bucket", b, "--key", k)
	}
	var out struct {
		Uploads        []struct{ Key string }
		CommonPrefixes []struct{ Prefix string }
	}
	raw := aws("s3api", "list-multipart-uploads", "--bucket", b, "--delimiter", "/", "--page-size", "1", "--output", "json")
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	var got []string
	for _, u := range out.Uploads {
		got = append(got, u.Key)
	}
	for _, p := range out.CommonPrefixes {
		got = append(got, p.Prefix)
	}
	if want := []string{"b", "a/", "c/"}; !slices.Equal(got, want) {
		t.Errorf("list-multipart-uploads --delimiter / --page-size 1: %q, want %q", got, want)
	}
}
