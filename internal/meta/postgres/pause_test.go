package postgres

import (
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestPausedDatabaseLogged: a database that stops answering without
// closing its connections (paused with SIGSTOP, partitioned) is logged
// once, and so is its return, so that an operator sees why requests
// waited; nothing else would say so until a client gave up.
func TestPausedDatabaseLogged(t *testing.T) {
	for v, d := range map[*time.Duration]time.Duration{&staleAfter: 100 * time.Millisecond, &pingEvery: 20 * time.Millisecond} {
		old := *v
		*v = d
		t.Cleanup(func() { *v = old })
	}
	var logged testenv.LogBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })

	u, err := url.Parse(testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	openAt(t, u.String())
	waitLog := func(what string, n int) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); strings.Count(logged.String(), what) < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log after the database was paused:\n%s", what, logged.String())
			}
		}
	}
	proxy.Stall(true)
	waitLog("PostgreSQL does not answer", 1)
	proxy.Stall(false)
	waitLog("PostgreSQL answers again", 1)
	if n := strings.Count(logged.String(), "PostgreSQL does not answer"); n != 1 {
		t.Errorf("the pause was logged %d times, want once:\n%s", n, logged.String())
	}
}
