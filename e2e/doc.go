// Package e2e holds the black-box end-to-end suite: it builds the nixbucket
// binary, starts `nixbucket serve` on loopback and drives it with real
// clients (the aws CLI, boto3, s3cmd, rclone, curl) and with kill -9 crash
// scenarios. It has no code of its own outside tests. The cluster tests
// (cluster_*_test.go) run three servers on one PostgreSQL database and one
// S3 store (versitygw), from internal/testenv.
//
// Environment:
//
//	NIXBUCKET_E2E_TARGET  "nixbucket" (default) or "versitygw", the reference
//	                      server the client cases were developed against
//	NIXBUCKET_E2E_META    "postgres": every server the helpers start keeps its
//	                      metadata in a PostgreSQL database of its own
//	                      (stores_test.go; scripts/test.sh runs such a pass)
//	NIXBUCKET_E2E_BLOBS   "s3", with META=postgres: its blobs too go to a
//	                      bucket of its own of the S3 store
//	NIXBUCKET_E2E_BIN     use this nixbucket binary instead of building one
//	NIXBUCKET_SHARED      the shared/ directory (default: ../shared beside
//	                      the repository root)
//	NIXBUCKET_TEST_POSTGRES, NIXBUCKET_TEST_S3_*
//	                      the PostgreSQL cluster and S3 store scripts/test.sh
//	                      started; without them the tests start their own
//	CI=true               a missing client program (or PostgreSQL, or
//	                      versitygw) fails its case instead of skipping it
package e2e
