package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nixbucket/nixbucket/internal/testenv"
)

// The store matrix. Every capability must work on both metadata stores, so
// the single-node tests can run on the scale-out ones too:
//
//	NIXBUCKET_E2E_META=postgres   every server the helpers start runs with
//	                              --meta on a PostgreSQL database of its own
//	NIXBUCKET_E2E_BLOBS=s3        and with --blobs in a bucket of its own of
//	                              the tests' S3 store (needs META=postgres,
//	                              as a deployment on S3 blobs has)
//
// A data directory keeps its stores for as long as the test that made them
// runs, so a server restarted on it (Restart, or startServerDir again)
// finds its data. The admin commands the tests run with `--data DIR` get
// the same stores through NIXBUCKET_META (see runCmd).
// Tests that only make sense on the embedded store skip with
// skipUnlessEmbedded.

// storeMode is the matrix mode, read once with the target (setupTarget).
var storeMode struct {
	meta, blobs string // "postgres" or ""; "s3" or ""
}

// readStoreMode reads the matrix variables; setupTarget calls it.
func readStoreMode() error {
	storeMode.meta = os.Getenv("NIXBUCKET_E2E_META")
	storeMode.blobs = os.Getenv("NIXBUCKET_E2E_BLOBS")
	switch {
	case storeMode.meta != "" && storeMode.meta != "postgres":
		return fmt.Errorf("unknown NIXBUCKET_E2E_META %q (want postgres, or unset for SQLite)", storeMode.meta)
	case storeMode.blobs != "" && storeMode.blobs != "s3":
		return fmt.Errorf("unknown NIXBUCKET_E2E_BLOBS %q (want s3, or unset for the data directory)", storeMode.blobs)
	case storeMode.blobs != "" && storeMode.meta == "":
		return fmt.Errorf("NIXBUCKET_E2E_BLOBS=s3 needs NIXBUCKET_E2E_META=postgres")
	}
	return nil
}

// dirStores are the external stores of one data directory.
type dirStores struct {
	meta    string   // the PostgreSQL URL
	blobDir string   // where the S3 store keeps the blob files, or ""
	args    []string // --meta URL, --blobs URL, as serve takes them
	env     []string // NIXBUCKET_META and the S3 store's keys, for the admin commands
}

var storesByDir sync.Map // data directory → *dirStores

// externalStores returns the stores of the server on dir in matrix mode,
// made on first use and kept until t ends; nil when the matrix is off or
// the target is not nixbucket. The server's own args may name a blob
// store, which then stays. Must be called on t's goroutine.
func externalStores(t testing.TB, dir string, args []string) *dirStores {
	t.Helper()
	if storeMode.meta == "" || target != targetNixbucket {
		return nil
	}
	if ds, ok := storesByDir.Load(dir); ok {
		return ds.(*dirStores)
	}
	metaURL := testenv.Postgres(t)
	ds := &dirStores{
		meta: metaURL,
		args: []string{"--meta", metaURL},
		env:  []string{"NIXBUCKET_META=" + metaURL},
	}
	if storeMode.blobs == "s3" && !hasFlag(args, "--blobs") {
		st := testenv.S3Store(t)
		bucket := st.NewBucket(t)
		blobs := "s3://" + bucket + "/cache?endpoint=" + st.Endpoint
		ds.blobDir = st.ObjectPath(bucket, "cache/blobs")
		ds.args = append(ds.args, "--blobs", blobs)
		// The admin commands find the blob store the server recorded,
		// and the AWS default chain the store's keys in the environment,
		// and nothing of the machine's (as in the cluster).
		ds.env = append(ds.env, st.Env()...)
		ds.env = append(ds.env, "AWS_CONFIG_FILE=/nonexistent", "AWS_PROFILE=")
	}
	storesByDir.Store(dir, ds)
	t.Cleanup(func() { storesByDir.Delete(dir) }) // runs before the database is dropped
	return ds
}

// metaURL returns the --meta of the server's store: "" for the data
// directory's SQLite.
func (s *Server) metaURL() string {
	if s.stores == nil {
		return ""
	}
	return s.stores.meta
}

// s3Blobs reports whether the matrix put the server's blobs in the S3
// store: its data directory then holds a blob cache, not the blobs.
func (s *Server) s3Blobs() bool { return s.stores != nil && s.stores.blobDir != "" }

// blobDir returns the directory that holds the server's blob files:
// DATA/blobs/blobs, or on the matrix's S3 blobs the store's (versitygw
// keeps objects as files).
func (s *Server) blobDir() string {
	if s.s3Blobs() {
		return s.stores.blobDir
	}
	return filepath.Join(s.Dir, "blobs", "blobs")
}

// blobFile returns the file of blob id: BLOBDIR/ID[:2]/ID in the data
// directory, BLOBDIR/ID in the S3 store.
func (s *Server) blobFile(id string) string {
	if s.s3Blobs() {
		return filepath.Join(s.blobDir(), id)
	}
	return filepath.Join(s.blobDir(), id[:2], id)
}

// serveArgs returns what serve gets for the stores: those of ds that args
// (the test's own) do not already name.
func (ds *dirStores) serveArgs(args []string) []string {
	if ds == nil {
		return nil
	}
	var out []string
	for i := 0; i+1 < len(ds.args); i += 2 {
		if !hasFlag(args, ds.args[i]) {
			out = append(out, ds.args[i], ds.args[i+1])
		}
	}
	return out
}

// adminEnv returns env with the stores of the data directory that args
// (an admin command's) name with --data, unless they name a store
// themselves. env nil means the test's environment, as for exec.Cmd.
func adminEnv(env []string, args []string) []string {
	dir, ok := flagValue(args, "--data")
	if !ok || hasFlag(args, "--meta") {
		return env
	}
	v, ok := storesByDir.Load(dir)
	if !ok {
		return env
	}
	if env == nil {
		env = os.Environ()
	}
	return append(slices.Clip(env), v.(*dirStores).env...)
}

// hasFlag reports whether args hold the flag name, as "NAME VALUE" or
// "NAME=VALUE".
func hasFlag(args []string, name string) bool {
	_, ok := flagValue(args, name)
	return ok
}

// flagValue returns the value of the flag name in args.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// skipUnlessEmbedded skips a test that only makes sense on the embedded
// store (SQLite and blobs in the data directory) when the matrix runs the
// servers on external ones. why says what the test needs of the embedded
// store. Each caller is on scripts/skip-allow.txt.
func skipUnlessEmbedded(t testing.TB, why string) {
	t.Helper()
	setupTarget(t)
	if storeMode.meta != "" {
		t.Skipf("embedded store only (NIXBUCKET_E2E_META=%s): %s", storeMode.meta, why)
	}
}
