package console

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// FuzzListing feeds any bytes as a path's .ls listing (a writer uploads
// it; any reader of a public cache may view it) and any directory of it
// as the console's page asks for one. Parsing and filling must not
// panic; a directory shown lists at most MaxEntries entries and counts
// the rest, its names sorted and unique, each entry's link under the
// directory.
func FuzzListing(f *testing.F) {
	// Seeds are small: the fuzzer minimises each new input it finds, in
	// time that grows as the square of its size, so a 2 KB seed spent
	// the whole run minimising (nar/testdata/tree.ls has these names).
	f.Add([]byte(`{"version":1,"root":{"type":"directory","entries":{"bin":{"type":"directory","entries":{"hello":{"type":"regular","size":68312,"executable":true,"narOffset":400}}},"share":{"type":"symlink","target":"../x/share"}}}}`), "bin")
	f.Add([]byte(`{"version":1,"root":{"type":"directory","entries":{"<html>&":{"type":"regular","size":3},"b\u0008":{"type":"regular"},"bad\udc80":{"type":"regular"}}}}`), "")
	f.Add([]byte(`{"version":1,"root":{"type":"regular","size":5,"executable":true,"narOffset":96}}`), "")
	f.Add([]byte(`{"version":1,"root":{"type":"symlink","target":"../../x"}}`), "a")
	f.Add([]byte(`{"version":1,"root":{"type":"directory","entries":{"..":{"type":"directory","entries":{}},"a/b":{"type":"regular"},"":{"type":"directory"}}}}`), "..")
	f.Add([]byte(`{"version":1,"root":{"type":"directory","entries":{"bin":{"type":"directory","entries":{"hello":{"type":"regular","size":-1}}}}}}`), "bin")
	f.Add([]byte(`{"version":1,"root":{"type":"directory","entries":{"x":{"type":"directory","entries":{"x":{"type":"directory","entries":{"x":{}}}}}}}}`), "x/x/x")
	f.Add([]byte(`{"version":1,"root":{"type":"directory","entries":{"a":1}}}`), "")
	f.Add([]byte(`{"root":null}`), "/")
	f.Fuzz(func(t *testing.T, body []byte, dir string) {
		root, cost, err := parseListing(bytes.NewReader(body))
		if err != nil {
			return
		}
		if root == nil || cost <= 0 {
			t.Fatalf("parsed with root %v and cost %d", root, cost)
		}
		d := pathData{Dir: dir, Name: "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-x"}
		if err := fillListing(root, &d); err != nil {
			return
		}
		if !d.Listing {
			t.Fatal("a listing filled is not marked as one")
		}
		if len(d.Entries) > MaxEntries || d.EntriesMore < 0 {
			t.Fatalf("%d entries and %d more", len(d.Entries), d.EntriesMore)
		}
		if d.EntriesMore > 0 && len(d.Entries) != MaxEntries {
			t.Fatalf("%d more entries counted after only %d", d.EntriesMore, len(d.Entries))
		}
		names := make([]string, 0, len(d.Entries))
		for _, e := range d.Entries {
			names = append(names, e.Name)
		}
		if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
			t.Fatalf("entries not sorted and unique: %q", names)
		}
		walked := ""
		for _, p := range d.Parents {
			if !strings.HasPrefix(p.Dir, walked) {
				t.Fatalf("parent %q not under %q", p.Dir, walked)
			}
			walked = p.Dir
		}
	})
}
