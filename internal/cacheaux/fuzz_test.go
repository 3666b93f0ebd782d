package cacheaux

import (
	"path"
	"strings"
	"testing"

	"github.com/nixbucket/nixbucket/internal/nixgraph"
)

// FuzzParse feeds any bytes as an uploaded debuginfo/….debug or
// realisation (.doi) body. Whatever it says, what it points at is a NAR
// key of the cache itself — under nar/ and clean, so no ".." leads out —
// or a store path hash, which deletions and verify take as the object's
// target: a body must not make them reach anything else.
func FuzzParse(f *testing.F) {
	for _, s := range []struct {
		kind uint8
		body string
	}{
		{1, `{"archive":"../nar/1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3.nar.xz","member":"lib/debug/.build-id/ab/cdef.debug"}`},
		{1, `{"archive":"../../etc/passwd"}`},
		{1, `{"archive":"../nar/../../nar/x"}`},
		{1, `{"archive":"/nar/x"}`},
		{1, `{"archive":"../nar/"}`},
		{1, `{"archive":"../nar/./a/../b"}`},
		{2, `{"dependentRealisations":{},"id":"sha256:0d5b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b!out","outPath":"7h7qgvs4kgzsn8a6rb274saxyqh4jxlz-hello-2.12.1","signatures":[]}`},
		{2, `{"outPath":"/nix/store/7h7qgvs4kgzsn8a6rb274saxyqh4jxlz-hello"}`},
		{2, `{"outPath":"a/b/c"}`},
		{2, `{"outPath":""}`},
		{3, `{}`},
	} {
		f.Add(s.kind, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		k := Kind(kind%3 + 1)
		target, err := Parse(k, body)
		if err != nil {
			if target != "" {
				t.Fatalf("failed (%v) with target %q", err, target)
			}
			return
		}
		switch k {
		case DebugInfo:
			name, ok := strings.CutPrefix(target, "nar/")
			if !ok || name == "" || path.Clean(target) != target {
				t.Fatalf("debuginfo target %q is not a NAR key of the cache", target)
			}
		case Realisation:
			if len(target) != nixgraph.HashLen || strings.Contains(target, "/") {
				t.Fatalf("realisation target %q is not a store path hash", target)
			}
		default:
			t.Fatalf("kind %v parsed to %q", k, target)
		}
	})
}
