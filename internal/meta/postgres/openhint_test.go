package postgres

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// TestOpenSaysWhatToDo: the mistakes of a first PostgreSQL set-up (the
// database not made, or made by postgres for a role that may then not
// create tables in it, as PostgreSQL 15 has it) are refused with the
// command that fixes them, not only PostgreSQL's words.
func TestOpenSaysWhatToDo(t *testing.T) {
	admin := testenv.Postgres(t)
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("no database", func(t *testing.T) {
		v := *u
		v.Path = "/nbtest_missing_db"
		_, err := Open(t.Context(), v.String())
		want := "database nbtest_missing_db does not exist: create it (createdb -E UTF8 -T template0 -O "
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Open = %v, want an error containing %q", err, want)
		}
	})

	t.Run("role may not create tables", func(t *testing.T) {
		role := fmt.Sprintf("nbtest_role_%d", os.Getpid())
		conn, err := pgx.Connect(t.Context(), admin)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(t.Context())
		if _, err := conn.Exec(t.Context(), `CREATE ROLE `+role+` LOGIN`); err != nil {
			t.Fatal(err)
		}
		// PostgreSQL before 15 let every role create in schema public.
		if _, err := conn.Exec(t.Context(), `REVOKE CREATE ON SCHEMA public FROM PUBLIC`); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Exec(t.Context(), `DROP ROLE `+role) })
		v := *u
		v.User = url.User(role)
		_, err = Open(t.Context(), v.String())
		db := strings.TrimPrefix(u.Path, "/")
		want := "user " + role + " may not create tables in database " + db + ": make it the database's owner (ALTER DATABASE " + db + " OWNER TO " + role + ", or createdb -O " + role + ")"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Open = %v, want an error containing %q", err, want)
		}
	})
}
