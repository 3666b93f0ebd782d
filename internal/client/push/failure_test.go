package push

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nixbucket/nixbucket/internal/client/spool"
	"github.com/nixbucket/nixbucket/internal/client/target"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
)

// refusing is a target that refuses every NAR upload with a
// target.Failure, counting the attempts.
type refusing struct {
	target.Target
	attempts atomic.Int32
}

func (r *refusing) Put(ctx context.Context, key string, f *spool.File, m target.Meta) error {
	if strings.HasPrefix(key, "nar/") {
		r.attempts.Add(1)
		return &target.Failure{Kind: target.Denied, Msg: "access denied: test"}
	}
	return r.Target.Put(ctx, key, f, m)
}

// TestFailureStops checks that a target.Failure stops the whole run at
// once: no other path is tried, Run returns the Failure itself (not
// ErrFailed, not wrapped), and every failed result is marked Aborted so
// the UI does not repeat the reason per path.
func TestFailureStops(t *testing.T) {
	e := setup(t, "")
	ref := &refusing{Target: e.rec.Target}
	results := map[string]Result{}
	p := New(Options{Store: e.ls, Target: ref, URL: e.url, Keys: []signature.SecretKey{e.key}, Jobs: 1, Compressors: 1, TmpDir: t.TempDir(),
		OnPath: func(r Result) { results[filepath.Base(r.Path)[33:]] = r }})
	// Independent roots: without the stop, each would try its own upload.
	var roots []string
	for _, n := range []string{"other", "base", "right"} {
		roots = append(roots, e.store.paths[n])
	}
	_, err := p.Run(context.Background(), roots)
	var f *target.Failure
	if !errors.As(err, &f) || err.Error() != "access denied: test" {
		t.Fatalf("Run: %v (%T), want the Failure itself", err, err)
	}
	if n := ref.attempts.Load(); n != 1 {
		t.Errorf("%d NAR uploads tried, want 1", n)
	}
	for name, r := range results {
		if r.Status == Failed && !r.Aborted {
			t.Errorf("%s: failed (%v) without Aborted", name, r.Err)
		}
	}
}
