package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
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
