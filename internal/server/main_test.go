package server_test

import (
	"os"
	"testing"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopS3Store()  // started by the first test on S3 blobs, if any
	testenv.StopPostgres() // likewise for PostgreSQL metadata
	os.Exit(code)
}
