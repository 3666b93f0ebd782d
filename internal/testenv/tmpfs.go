package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// MountTmpfs mounts a tmpfs of size (mount's syntax: "64m") on a fresh
// directory, unmounted when the test ends. Mounting needs root, and a
// sandbox may forbid it: the test is then skipped (failed in CI).
func MountTmpfs(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "mounting a tmpfs needs root")
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		SkipOrFail(t, fmt.Sprintf("cannot mount a tmpfs: %v: %s", err, bytes.TrimSpace(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// FreeBytes is what statfs says an unprivileged writer may still use in
// dir's file system.
func FreeBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// FillDisk appends to path until its file system has no byte left, as
// another program on the machine might, and checks that none is.
func FillDisk(t testing.TB, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for len(buf) > 0 {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			buf = buf[:len(buf)/2]
		}
	}
	if free := FreeBytes(t, filepath.Dir(path)); free != 0 {
		t.Fatalf("%d bytes still free after filling the disk", free)
	}
}
