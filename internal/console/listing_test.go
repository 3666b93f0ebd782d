package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nixbucket/nixbucket/internal/objects"
)

// bigListing is a .ls listing with n regular files in lib/ and one in bin/.
func bigListing(t *testing.T, n int) []byte {
	t.Helper()
	lib := map[string]any{}
	for i := range n {
		lib[fmt.Sprintf("file-%07d.so", i)] = map[string]any{"type": "regular", "size": i, "narOffset": 1000 + i}
	}
	ls := map[string]any{"version": 1, "root": map[string]any{"type": "directory", "entries": map[string]any{
		"lib": map[string]any{"type": "directory", "entries": lib},
		"bin": map[string]any{"type": "directory", "entries": map[string]any{
			"hello": map[string]any{"type": "regular", "size": 7, "executable": true, "narOffset": 1},
		}},
	}}}
	b, err := json.Marshal(ls)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestListingBounded: a page of a big listing lists MaxEntries entries
// of the directory and counts the rest. Before, it listed them all: a
// directory of 230,000 files made a 20 MB page.
func TestListingBounded(t *testing.T) {
	const n = 100000
	ls := bigListing(t, n)

	d := pathData{Dir: "lib"}
	if err := readListing(bytes.NewReader(ls), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Entries) != MaxEntries || d.EntriesMore != n-MaxEntries {
		t.Errorf("%d entries listed and %d more, want %d and %d", len(d.Entries), d.EntriesMore, MaxEntries, n-MaxEntries)
	}
	if e := d.Entries[1]; e.Name != "file-0000001.so" || e.Type != "regular" || e.Size != 1 || e.Dir != "lib/file-0000001.so" {
		t.Errorf("second entry %+v", e)
	}

	d = pathData{Dir: "bin"}
	if err := readListing(bytes.NewReader(ls), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Entries) != 1 || d.EntriesMore != 0 || d.Entries[0] != (entry{Name: "hello", Type: "regular", Size: 7, Exec: true, Dir: "bin/hello"}) ||
		len(d.Parents) != 1 || d.Parents[0].Dir != "bin" {
		t.Errorf("bin: entries %+v, parents %+v", d.Entries, d.Parents)
	}
	d = pathData{Dir: "bin/hello"}
	if err := readListing(bytes.NewReader(ls), &d); err == nil {
		t.Error("a file taken for a directory was listed")
	}
}

// TestListingKept: the store path page parses a path's listing once
// while its bucket does not change, whichever directory it shows, not at
// every view (a listing of 200,000 files took 0.4 to 0.8 s per view, for
// anyone a public bucket lets in); a listing uploaded again shows on the
// next view.
func TestListingKept(t *testing.T) {
	ctx := context.Background()
	st, svc := graphStore(t, "pub")
	put := func(key string, body []byte) {
		t.Helper()
		if _, err := svc.Put(ctx, objects.PutInput{Bucket: "pub", Key: key, Body: bytes.NewReader(body), Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
	}
	hash := hashOf('a')
	put(hash+".narinfo", nil)
	put(hash+".ls", bigListing(t, 3000))
	var parses atomic.Int64
	testHookParseListing = func() { parses.Add(1) }
	t.Cleanup(func() { testHookParseListing = nil })
	h := publicHandler(t, st, st, svc)
	view := func(query, want string) {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, Prefix+"b/pub/p/"+hash+query, nil))
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), want) {
			t.Fatalf("GET %s: %d, want 200 with %q", query, w.Code, want)
		}
	}
	for range 3 {
		view("", "lib/</a>")
		view("?dir=lib", "file-0000001.so")
		view("?dir=bin", "hello")
		view("?dir=nowhere", "no directory")
	}
	if n := parses.Load(); n != 1 {
		t.Errorf("12 views parsed the listing %d times, want once", n)
	}
	put(hash+".ls", []byte(`{"version":1,"root":{"type":"directory","entries":{"share":{"type":"directory","entries":{}}}}}`))
	view("", "share/</a>")
	if n := parses.Load(); n != 2 {
		t.Errorf("after the listing was uploaded again: %d parses in all, want 2", n)
	}
}
