package localstore

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// The read-only test's child process: this test binary, run as nobody,
// opens the database named in readOnlyEnv.
const readOnlyEnv = "NIXBUCKET_LOCALSTORE_READONLY"

// TestMain runs the read-only child process when the environment names a
// database, and the tests otherwise.
func TestMain(m *testing.M) {
	if file := os.Getenv(readOnlyEnv); file != "" {
		if err := openReadOnly(file); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// nobody is the uid and gid of Debian's unprivileged user.
const nobody = 65534

// runAsNobody copies the database in file and this test binary into a
// directory every user may enter but nobody may write, then runs the
// binary as nobody to open the copy.
func runAsNobody(t *testing.T, file string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "localstore-ro-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Chmod(dir, 0o700)
		os.RemoveAll(dir)
	})
	db := filepath.Join(dir, "db.sqlite")
	bin := filepath.Join(dir, "localstore.test")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, file, db, 0o444)
	copyFile(t, self, bin, 0o555)
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), readOnlyEnv+"="+db)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("opening the database as nobody: %v\n%s", err, out)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
