package server_test

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nixbucket/nixbucket/internal/server"
	"github.com/nixbucket/nixbucket/internal/testenv"
)

func openData(t *testing.T, dir string, log *testenv.LogBuffer) (*server.Server, error) {
	t.Helper()
	if log == nil {
		log = &testenv.LogBuffer{}
	}
	srv, err := server.Open(context.Background(), server.Options{Data: dir, Log: slog.New(slog.NewTextHandler(log, nil))})
	if err == nil {
		t.Cleanup(func() { srv.Close() })
	}
	return srv, err
}

// The first-start banner goes to the log: it names the files holding the
// admin secret and the commands that read them, never the secret itself.
func TestBannerHoldsNoSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	srv, err := openData(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !srv.FirstStart {
		t.Fatal("not a first start")
	}
	b := srv.Banner(context.Background(), "http://127.0.0.1:9000", "")
	if strings.Contains(b, srv.Root.Secret) {
		t.Fatalf("the banner holds the admin secret:\n%s", b)
	}
	for _, want := range []string{srv.Root.ID, srv.CredentialsFile(), filepath.Join(dir, "netrc"),
		"grep aws_secret_access_key " + srv.CredentialsFile()} {
		if !strings.Contains(b, want) {
			t.Errorf("the banner lacks %q:\n%s", want, b)
		}
	}
	creds, err := os.ReadFile(srv.CredentialsFile())
	if err != nil || !strings.Contains(string(creds), srv.Root.Secret) {
		t.Fatalf("the credentials file does not hold the secret (%v)", err)
	}
}

// A data directory others may write to is refused: they could replace
// meta.db or the credentials.
func TestOpenRefusesDataDirWritableByOthers(t *testing.T) {
	for _, mode := range []fs.FileMode{0o777, 0o770, 0o702} {
		dir := filepath.Join(t.TempDir(), "data")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		_, err := openData(t, dir, nil)
		if err == nil || !strings.Contains(err.Error(), "writable by group or others") {
			t.Errorf("mode %04o: Open error %v, want a refusal", mode, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "meta.db")); err == nil {
			t.Errorf("mode %04o: meta.db was created in a refused directory", mode)
		}
	}
}

// A data directory others may read is tightened to 0700, with a log line.
func TestOpenTightensDataDirReadableByOthers(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var log testenv.LogBuffer
	if _, err := openData(t, dir, &log); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o700 {
		t.Errorf("data directory mode %04o, want 0700", m)
	}
	if !strings.Contains(log.String(), "tightened") || !strings.Contains(log.String(), "was=0755") {
		t.Errorf("no log line about the tightening:\n%s", log.String())
	}
}

// Under umask 0 nothing the server writes in its data directory is
// readable by others: meta.db, its -wal/-shm/-gen, credentials, netrc,
// blobs.
func TestDataDirPrivateUnderUmaskZero(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data")
	srv, err := openData(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		seen := map[string]bool{}
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			fi, err := d.Info()
			if err != nil {
				return nil // a spare removed meanwhile
			}
			if fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s: %s has mode %04o", when, path, fi.Mode().Perm())
			}
			seen[filepath.Base(path)] = true
			return nil
		})
		for _, name := range []string{"meta.db", "meta.db-wal", "meta.db-shm", "meta.db-gen", "credentials", "netrc"} {
			if !seen[name] {
				t.Errorf("%s: %s missing", when, name)
			}
		}
	}
	check("running")
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	check("closed")
}
