package postgres

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

// withHint adds to err, a failure to open the store, what to do about the
// mistakes of a first set-up: a database not made yet, a wrong user or
// password, a database made by postgres for a user who may not create
// tables in it (PostgreSQL 15 no longer lets every user create in schema
// public). Other errors are returned as they are.
func withHint(err error, cfg *pgconn.Config) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	user, db := cfg.User, cfg.Database
	switch pe.Code {
	case "3D000": // invalid_catalog_name
		return fmt.Errorf("database %s does not exist: create it (createdb -E UTF8 -T template0 -O %s %s, as a PostgreSQL superuser): %w", db, user, db, err)
	case "28P01", "28000": // invalid_password, invalid_authorization_specification
		return fmt.Errorf("PostgreSQL refused user %s: check the user and password in the URL (createuser -P %s makes the user; pg_hba.conf must let it connect): %w", user, user, err)
	case "42501": // insufficient_privilege
		return fmt.Errorf("user %s may not create tables in database %s: make it the database's owner (ALTER DATABASE %s OWNER TO %s, or createdb -O %s): %w", user, db, db, user, user, err)
	}
	return err
}
