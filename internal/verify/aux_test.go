package verify_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/nixbucket/nixbucket/internal/objects"
	"github.com/nixbucket/nixbucket/internal/verify"
)

func (e *env) putJSON(key, body string) {
	e.t.Helper()
	if _, err := e.objs.Put(e.t.Context(), objects.PutInput{Bucket: bucket, Key: key, Body: bytes.NewReader([]byte(body)), Size: int64(len(body))}); err != nil {
		e.t.Fatal(err)
	}
}

// putAux writes what Nix writes for n with index-debug-info=true and
// ca-derivations: a debuginfo entry naming its NAR and a realisation
// naming its path; it returns their keys.
func (e *env) putAux(name, url string) (debug, real string) {
	debug = "debuginfo/" + hashOf(name)[:8] + "0123456789012345678901234567890a.debug"
	real = "realisations/sha256:" + hashOf(name) + "!out.doi"
	e.putJSON(debug, `{"archive":"../`+url+`","member":"lib/debug/.build-id/ab/c.debug"}`)
	e.putJSON(real, `{"dependentRealisations":{},"id":"x","outPath":"`+base(name)+`","signatures":[]}`)
	return debug, real
}

// TestDanglingAux: verify reports the debuginfo entries and realisations
// whose NAR or path is gone, once older than the grace, and no others;
// repair removes them, and with a broken path the ones naming it.
func TestDanglingAux(t *testing.T) {
	e := newEnv(t)
	kept := e.add(path{name: "kept"})
	gone := e.add(path{name: "gone"})
	broken := e.add(path{name: "broken"})
	keptKeys := []string{}
	d, r := e.putAux("kept", kept.URL)
	keptKeys = append(keptKeys, d, r)
	goneDebug, goneReal := e.putAux("gone", gone.URL)
	brokenDebug, brokenReal := e.putAux("broken", broken.URL)
	e.putJSON("debuginfo/garbled.debug", "not json")
	for _, k := range []string{gone.Hash + ".narinfo", gone.URL} {
		if err := e.objs.Delete(t.Context(), bucket, k, objects.Conditions{}); err != nil {
			t.Fatal(err)
		}
	}

	rep := e.check(false)
	wantCounts(t, rep, map[verify.Kind]int{}) // all younger than the grace
	if rep.YoungAux != 6 || rep.AuxUnparsed != 1 {
		t.Errorf("young %d, unparsed %d; want 6 and 1", rep.YoungAux, rep.AuxUnparsed)
	}

	later := e.checker(false)
	later.Now = func() time.Time { return time.Now().Add(2 * verify.DefaultGrace) }
	rep, err := later.Check(t.Context(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, rep, map[verify.Kind]int{verify.DanglingDebugInfo: 1, verify.DanglingRealisation: 1})
	// Now break a path: its NAR goes. Its entries go with it on repair.
	if err := e.objs.Delete(t.Context(), bucket, broken.URL, objects.Conditions{}); err != nil {
		t.Fatal(err)
	}
	rep, err = later.Check(t.Context(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, rep, map[verify.Kind]int{verify.DanglingDebugInfo: 2, verify.DanglingRealisation: 1, verify.MissingNAR: 1})
	rm, err := later.Repair(t.Context(), rep)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(rm.Dangling)
	want := []string{brokenDebug, goneDebug, goneReal}
	slices.Sort(want)
	if !slices.Equal(rm.Dangling, want) || !slices.Equal(rm.Plan.Aux, []string{brokenReal}) {
		t.Errorf("repair removed dangling %v and with the broken path %v; want %v and %v", rm.Dangling, rm.Plan.Aux, want, []string{brokenReal})
	}
	if left := rep.Problems() - rep.Repaired(rm); left != 0 {
		t.Errorf("%d problems left after repair", left)
	}
	rep, err = later.Check(t.Context(), bucket)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts(t, rep, map[verify.Kind]int{})
	for _, k := range keptKeys {
		if _, err := e.store.Object(t.Context(), bucket, k); err != nil {
			t.Errorf("%s of the kept path: %v", k, err)
		}
	}
}
