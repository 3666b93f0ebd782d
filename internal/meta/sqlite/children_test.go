package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// childRoleEnv names the helper process a test binary started by child
// runs instead of the tests.
const childRoleEnv = "NIXBUCKET_SQLITE_CHILD"

// children are the helper processes tests start: a second process writing
// to the same database, one holding its write lock, one killed mid-write.
var children = map[string]func(ctx context.Context) error{
	"other-writer":    otherWriter,
	"hold-write-lock": holdWriteLockChild,
	"killed-writer":   killedWriter,
}

// TestMain runs a helper process when the environment names one, and the
// tests otherwise, so no helper shows up as a skipped test.
func TestMain(m *testing.M) {
	role := os.Getenv(childRoleEnv)
	if role == "" {
		os.Exit(m.Run())
	}
	run, ok := children[role]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown helper process %q\n", role)
		os.Exit(2)
	}
	if err := run(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// otherWriter is TestOtherProcess's other process, the CLI: it creates
// NIXBUCKET_META_USERS users and a bucket policy in NIXBUCKET_META_OTHER.
func otherWriter(ctx context.Context) error {
	users, err := strconv.Atoi(os.Getenv("NIXBUCKET_META_USERS"))
	if err != nil {
		return err
	}
	s, err := Open(os.Getenv("NIXBUCKET_META_OTHER"))
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.User(ctx, "server-made"); err != nil {
		return fmt.Errorf("the other process's user: %w", err)
	}
	for i := range users {
		if err := s.CreateUser(ctx, meta.User{Name: fmt.Sprintf("user-%03d", i)}); err != nil {
			return err
		}
	}
	return s.SetBucketPolicy(ctx, "b", []byte(`{"Statement":[]}`))
}

// holdWriteLockChild is holdWriteLock's other process: it writes a setting
// in a transaction it commits when its stdin closes.
func holdWriteLockChild(ctx context.Context) error {
	db, err := sql.Open("sqlite", os.Getenv("NIXBUCKET_META_HOLD")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, q := range []string{"BEGIN IMMEDIATE", "INSERT OR REPLACE INTO settings (name, value) VALUES ('holder', 'was here')"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}

// killedWriter is TestKilled's writer: it writes in NIXBUCKET_META_KILL and
// prints each acknowledged key until it is killed.
func killedWriter(ctx context.Context) error {
	s, err := Open(os.Getenv("NIXBUCKET_META_KILL"))
	if err != nil {
		return err
	}
	if err := s.CreateBucket(ctx, meta.Bucket{Name: "b"}); err != nil {
		return err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	errc := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("%d-%d", w, i)
				obj := meta.Object{Bucket: "b", Key: key, ETag: "e",
					Segments: []meta.Segment{{Blob: "blob-" + key, Size: 1}}}
				if _, err := s.PutObject(ctx, obj, nil); err != nil {
					errc <- err
					return
				}
				mu.Lock()
				fmt.Printf("acked %s\n", key)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return <-errc
}
