package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL for tests.
//
// scripts/test.sh starts one throwaway cluster for the whole run and
// exports NIXBUCKET_TEST_POSTGRES, a URL of an administrator's connection
// to it. Without it, the first test that asks starts a cluster of its own
// (initdb of the newest /usr/lib/postgresql/*/bin, as the postgres user
// when run as root, in a temp dir, on a free port); the package's TestMain
// stops it with StopPostgres.

var (
	pgOnce  sync.Once
	pgAdmin string // the administrator's URL
	pgErr   error
	pgStop  func() // stops the cluster this process started, if any
	pgSeq   atomic.Int64
)

// Postgres returns the URL of a new, empty database (UTF8, C collation)
// dropped when the test ends. It skips the test (fails it under CI) when
// no PostgreSQL is available.
func Postgres(t testing.TB) string {
	t.Helper()
	pgOnce.Do(func() { pgAdmin, pgErr = startPostgres() })
	if pgErr != nil {
		SkipOrFail(t, fmt.Sprintf("PostgreSQL not available: %v", pgErr))
	}
	name := fmt.Sprintf("nbtest_%d_%d", os.Getpid(), pgSeq.Add(1))
	if err := adminExec(pgAdmin, `CREATE DATABASE `+name+` TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		if err := adminExec(pgAdmin, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	u, err := url.Parse(pgAdmin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// StopPostgres stops the cluster Postgres started in this process, if
// any. A TestMain calls it after m.Run.
func StopPostgres() {
	if pgStop != nil {
		pgStop()
		pgStop = nil
	}
}

func adminExec(admin, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// startPostgres returns the administrator's URL of the run's cluster, or
// starts one.
func startPostgres() (string, error) {
	if u := os.Getenv("NIXBUCKET_TEST_POSTGRES"); u != "" {
		return u, nil
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		return "", errors.New("NIXBUCKET_TEST_POSTGRES is not set and no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql)")
	}
	slices.SortFunc(bins, func(a, b string) int { return pgVersion(b) - pgVersion(a) })
	bin := filepath.Dir(bins[0])
	sweepClusters(bin)

	dir, err := os.MkdirTemp("", "nixbucket-pg-")
	if err != nil {
		return "", err
	}
	// As root, the cluster runs as postgres (initdb refuses root), which
	// must own the directory and be able to reach it.
	var as []string
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("running as root, and no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		as = []string{"runuser", "-u", "postgres", "--"}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	data := filepath.Join(dir, "data")
	run := func(name string, args ...string) error {
		argv := append(append(slices.Clone(as), filepath.Join(bin, name)), args...)
		c := exec.Command(argv[0], argv[1:]...)
		c.Dir = dir
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", name, err, out)
		}
		return nil
	}
	if err := run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300", port, dir)
	if err := run("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start"); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	pgStop = func() {
		run("pg_ctl", "-D", data, "-m", "immediate", "stop")
		os.RemoveAll(dir)
	}
	// A test binary killed (go test -timeout panics past TestMain) leaves
	// its cluster running: the next one stops it (sweepClusters).
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		pgStop()
		return "", err
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), nil
}

// sweepClusters stops and removes the clusters of test binaries that
// died without stopping them: those whose owner process is gone.
func sweepClusters(bin string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "nixbucket-pg-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner"))
		if err != nil {
			continue // starting, or not ours
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			continue // alive (or not ours to judge)
		}
		argv := []string{filepath.Join(bin, "pg_ctl"), "-D", filepath.Join(dir, "data"), "-m", "immediate", "stop"}
		if os.Geteuid() == 0 {
			argv = append([]string{"runuser", "-u", "postgres", "--"}, argv...)
		}
		exec.Command(argv[0], argv[1:]...).Run()
		os.RemoveAll(dir)
	}
}

// pgVersion returns the major version in a path /usr/lib/postgresql/N/….
func pgVersion(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// freePort returns a TCP port nothing listens on at the moment.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
