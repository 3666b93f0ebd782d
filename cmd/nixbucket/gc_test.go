package main

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/lifecycle/gc"
	"github.com/nixbucket/nixbucket/internal/lifecycle/gc/gcsynth"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/meta/backend"
	"github.com/nixbucket/nixbucket/internal/server"
	"github.com/nixbucket/nixbucket/internal/storage/localfs"
)

// TestBucketSetRetention: bucket set takes the retention settings along
// with the nix-cache-info ones, bucket info shows them, and bad values are
// refused with what is wanted.
func TestBucketSetRetention(t *testing.T) {
	data := newData(t)
	env := []string{"NIXBUCKET_DATA=" + data}
	store, err := backend.Open(data, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateBucket(t.Context(), meta.Bucket{Name: "cache", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	store.Close()

	info := run(t, env, "bucket", "info", "cache")
	for _, want := range []string{"keep-days:       no limit\n", "max-size:        no limit\n", "gc:              off\n", "gc-grace:        1h0m0s\n"} {
		if !strings.Contains(info.stdout, want) {
			t.Errorf("bucket info before any setting lacks %q:\n%s", want, info.stdout)
		}
	}
	if r := run(t, env, "bucket", "set", "cache", "keep-days=30", "max-size=200GiB", "gc=on", "gc-grace=2h", "priority=30"); r.code != 0 {
		t.Fatalf("bucket set: exit %d: %s", r.code, r.stderr)
	}
	info = run(t, env, "bucket", "info", "cache")
	for _, want := range []string{"keep-days:       30 days\n", "max-size:        214748364800 (200.0 GiB)\n", "gc:              on", "gc-grace:        2h0m0s\n", "priority:        30\n"} {
		if !strings.Contains(info.stdout, want) {
			t.Errorf("bucket info lacks %q:\n%s", want, info.stdout)
		}
	}
	// One setting leaves the others as they were.
	if r := run(t, env, "bucket", "set", "cache", "gc=off"); r.code != 0 {
		t.Fatalf("bucket set gc=off: exit %d: %s", r.code, r.stderr)
	}
	info = run(t, env, "bucket", "info", "cache")
	if !strings.Contains(info.stdout, "gc:              off\n") || !strings.Contains(info.stdout, "keep-days:       30 days\n") {
		t.Errorf("after gc=off, bucket info:\n%s", info.stdout)
	}
	for _, bad := range []string{"keep-days=-1", "max-size=5%", "max-size=lots", "gc=maybe", "gc-grace=soon"} {
		r := run(t, env, "bucket", "set", "cache", bad)
		k, _, _ := strings.Cut(bad, "=")
		if r.code == 0 || !strings.Contains(r.stderr, k+"=") {
			t.Errorf("bucket set %s: exit %d, stderr %q; want a refusal naming %s", bad, r.code, r.stderr, k)
		}
	}
}

// buildSynthetic writes a synthetic cache of half stale closures into
// data's store: bucket cache, keep-days=30.
func buildSynthetic(t *testing.T, data string, s gcsynth.Shape) {
	t.Helper()
	store, err := backend.Open(data, "")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := gcsynth.Build(t.Context(), store, s, nil); err != nil {
		t.Fatal(err)
	}
	if err := store.SetRetention(t.Context(), s.Bucket, meta.Retention{KeepDays: 30, Grace: time.Hour}); err != nil {
		t.Fatal(err)
	}
}

func checkWhole(t *testing.T, data, bucket string) {
	t.Helper()
	store, err := backend.Open(data, "")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	broken, err := gc.Broken(context.Background(), store, nil, bucket, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range broken {
		t.Errorf("after the kill: %s", b)
	}
}

// TestGCKill9: nixbucket gc killed (SIGKILL) while it deletes narinfos,
// and again while it deletes NARs, leaves every narinfo with its NAR and
// its whole closure; a run to the end then removes all that was stale.
func TestGCKill9(t *testing.T) {
	data := newData(t)
	shape := gcsynth.Shape{Bucket: "cache", Roots: 8, Unique: 1500, Shared: 300, Width: 150, Refs: 10, Stale: 4,
		NARBytes: 64, Now: time.Now().UTC(), StaleAge: 90 * 24 * time.Hour, FreshAge: 24 * time.Hour}
	buildSynthetic(t, data, shape)
	for _, phase := range []string{"deleting narinfos", "deleting NARs"} {
		killGC(t, data, phase)
		checkWhole(t, data, "cache")
		logPaths(t, data, "after the kill in "+phase)
	}
	r := run(t, nil, "gc", "cache", "--data", data)
	if r.code != 0 {
		t.Fatalf("gc after the kills: exit %d: %s", r.code, r.stderr)
	}
	checkWhole(t, data, "cache")
	store, err := backend.Open(data, "")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	st, err := store.CacheStats(t.Context(), "cache")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(shape.Paths() - shape.Stale*shape.Unique); st.Paths != want {
		t.Errorf("%d paths left, want %d (the fresh closures and the shared paths)", st.Paths, want)
	}
	objs, err := store.ScanObjects(t.Context(), meta.ScanQuery{Bucket: "cache", Prefix: "nar/"})
	if err != nil {
		t.Fatal(err)
	}
	if want := int(st.Paths); len(objs) != want {
		t.Errorf("%d NARs left, want %d", len(objs), want)
	}
}

// killGC runs nixbucket gc on bucket cache of data and kills it
// (SIGKILL) once it prints phase.
func killGC(t *testing.T, data, phase string) {
	t.Helper()
	cmd := exec.Command(bin, "gc", "cache", "--data", data)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.Contains(sc.Text(), phase) {
			cmd.Process.Kill()
			killed = true
			break
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("gc ended (%v) before it printed %q", err, phase)
	}
}

func logPaths(t *testing.T, data, when string) {
	store, err := backend.Open(data, "")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	st, err := store.CacheStats(t.Context(), "cache")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := store.ScanObjects(t.Context(), meta.ScanQuery{Bucket: "cache", Prefix: "nar/"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d paths, %d NARs", when, st.Paths, len(objs))
}

// TestServerRunning: nixbucket gc paces its deletes when a server holds
// the data directory's lock, as server.Open takes it.
func TestServerRunning(t *testing.T) {
	data := newData(t)
	if serverRunning(data) {
		t.Fatal("serverRunning with no server")
	}
	srv, err := server.Open(t.Context(), server.Options{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	running := serverRunning(data)
	srv.Close()
	if !running {
		t.Error("serverRunning is false while a server runs")
	}
	if serverRunning(data) {
		t.Error("serverRunning after the server closed")
	}
}

// TestGCRestHelp: gc --rest defaults to 1 beside a running server and 0
// otherwise, decided when it runs; its help says so and shows no sentinel
// default ("(default -1)" once), and a negative --rest is refused.
func TestGCRestHelp(t *testing.T) {
	r := run(t, nil, "help", "gc")
	if r.code != 0 || !strings.Contains(r.stdout, "-rest N") || strings.Contains(r.stdout, "default -1") {
		t.Errorf("nixbucket help gc: exit %d\n%s", r.code, r.stdout)
	}
	r = run(t, nil, "gc", "nix-cache", "--rest", "-1", "--data", t.TempDir())
	if r.code != 2 || !strings.Contains(r.stderr, "-rest") {
		t.Errorf("nixbucket gc --rest -1: exit %d, stderr %q; want a usage error (2)", r.code, r.stderr)
	}
}

// TestGCKill9Blobs: nixbucket gc killed (SIGKILL) while it deletes NARs
// held in blob files, then run again to the end, leaves a cache that
// verify finds clean: no narinfo without its NAR, and no blob file that
// nothing refers to.
func TestGCKill9Blobs(t *testing.T) {
	data := newData(t)
	blobs, err := localfs.Open(filepath.Join(data, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	shape := gcsynth.Shape{Bucket: "cache", Roots: 4, Unique: 1500, Shared: 300, Width: 150, Refs: 10, Stale: 2,
		NARBytes: 64, Now: time.Now().UTC(), StaleAge: 90 * 24 * time.Hour, FreshAge: 24 * time.Hour, Sign: true, Blobs: blobs}
	buildSynthetic(t, data, shape)
	blobs.Close()
	killGC(t, data, "deleting NARs")
	logPaths(t, data, "after the kill")
	if r := run(t, nil, "gc", "cache", "--data", data); r.code != 0 {
		t.Fatalf("gc after the kill: exit %d: %s", r.code, r.stderr)
	}
	r := run(t, nil, "verify", "cache", "--data", data, "--grace", "1ms")
	t.Logf("verify:\n%s%s", r.stdout, r.stderr)
	if r.code != 0 {
		t.Errorf("verify after the kill and a gc to the end: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestGCProgressEnds: a phase with a total ends on a line saying all of
// it was done, however fast it went.
func TestGCProgressEnds(t *testing.T) {
	data := newData(t)
	shape := gcsynth.Shape{Bucket: "cache", Roots: 2, Unique: 1000, Shared: 10, Width: 100, Refs: 4, Stale: 1,
		NARBytes: 64, Now: time.Now().UTC(), StaleAge: 90 * 24 * time.Hour, FreshAge: 24 * time.Hour}
	buildSynthetic(t, data, shape)
	r := run(t, nil, "gc", "cache", "--data", data)
	if r.code != 0 {
		t.Fatalf("gc: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "gc: deleting narinfos: 1000 of 1000\n") {
		t.Errorf("gc's progress does not end with all narinfos deleted:\n%s", r.stderr)
	}
}
