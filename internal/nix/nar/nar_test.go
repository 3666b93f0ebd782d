package nar_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/nixbucket/nixbucket/internal/nix/nar"
)

// narOf encodes NAR strings: a NAR is nothing else, so this crafts any
// archive, valid or not.
func narOf(tokens ...string) []byte {
	var b []byte
	for _, s := range tokens {
		b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
		b = append(b, make([]byte, (8-len(s)%8)%8)...)
	}
	return b
}

// entry wraps node tokens as a directory entry.
func entry(name string, node ...string) []string {
	return append(append([]string{"entry", "(", "name", name, "node"}, node...), ")")
}

func dirNAR(entries ...[]string) []byte {
	toks := []string{"nix-archive-1", "(", "type", "directory"}
	for _, e := range entries {
		toks = append(toks, e...)
	}
	return narOf(append(toks, ")")...)
}

var (
	fileNode = []string{"(", "type", "regular", "contents", "data", ")"}
	smallNAR = dirNAR(
		entry("a", "(", "type", "regular", "executable", "", "contents", "#!/bin/sh\n", ")"),
		entry("b", "(", "type", "directory", "entry", "(", "name", "c", "node", "(", "type", "symlink", "target", "../a", ")", ")", ")"),
		entry("d", fileNode...),
	)
)

// readAll reads a NAR and writes it back with a Writer, returning the
// headers seen and the rewritten archive.
func readAll(t *testing.T, r io.Reader) ([]nar.Header, []byte) {
	t.Helper()
	nr := nar.NewReader(r)
	var out bytes.Buffer
	nw := nar.NewWriter(&out)
	var hs []nar.Header
	for {
		h, err := nr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, *h)
		if err := nw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(nw, nr); err != nil {
			t.Fatal(err)
		}
	}
	if err := nw.Close(); err != nil {
		t.Fatal(err)
	}
	return hs, out.Bytes()
}

func TestReaderHeaders(t *testing.T) {
	hs, out := readAll(t, bytes.NewReader(smallNAR))
	want := []nar.Header{
		{Path: "/", Type: nar.TypeDirectory},
		{Path: "/a", Type: nar.TypeRegular, Executable: true, Size: 10, Offset: int64(bytes.Index(smallNAR, []byte("#!/bin/sh\n")))},
		{Path: "/b", Type: nar.TypeDirectory},
		{Path: "/b/c", Type: nar.TypeSymlink, LinkTarget: "../a"},
		{Path: "/d", Type: nar.TypeRegular, Size: 4, Offset: int64(bytes.Index(smallNAR, []byte("data")))},
	}
	if len(hs) != len(want) {
		t.Fatalf("headers %+v", hs)
	}
	for i := range want {
		if hs[i] != want[i] {
			t.Errorf("header %d = %+v, want %+v", i, hs[i], want[i])
		}
	}
	if hs[1].Offset != 264 { // 15 padded strings and the 8-byte size before the contents
		t.Errorf("Offset of /a = %d, want 264", hs[1].Offset)
	}
	if !bytes.Equal(out, smallNAR) {
		t.Error("rewriting the NAR changed it")
	}
}

// TestReaderRoundTrip reads NARs through the testing/iotest readers and
// writes them back: the result must be identical.
func TestReaderRoundTrip(t *testing.T) {
	golden, err := os.ReadFile("testdata/tree.nar")
	if err != nil {
		t.Fatal(err)
	}
	single := narOf("nix-archive-1", "(", "type", "regular", "contents", strings.Repeat("x", 100000), ")")
	symlink := narOf("nix-archive-1", "(", "type", "symlink", "target", "/nix/store/x", ")")
	wrappers := map[string]func(io.Reader) io.Reader{
		"plain":    func(r io.Reader) io.Reader { return r },
		"onebyte":  iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"dataerr":  iotest.DataErrReader,
		"noWriter": func(r io.Reader) io.Reader { return struct{ io.Reader }{r} },
	}
	for _, in := range [][]byte{golden, smallNAR, single, symlink} {
		for name, wrap := range wrappers {
			_, out := readAll(t, wrap(bytes.NewReader(in)))
			if !bytes.Equal(out, in) {
				t.Errorf("%s: round trip changed a %d-byte NAR", name, len(in))
			}
		}
	}
}

// TestReaderContents checks the contents of every file with
// iotest.TestReader, and that Next skips contents left unread.
func TestReaderContents(t *testing.T) {
	nr := nar.NewReader(bytes.NewReader(dump(t, makeTree(t))))
	files := map[string]treeFile{}
	for _, f := range testTree {
		files["/"+f.path] = f
	}
	n := 0
	for i := 0; ; i++ {
		h, err := nr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Type != nar.TypeRegular {
			continue
		}
		f := files[h.Path]
		if h.Executable != f.isExec || h.Size != int64(len(f.data)) {
			t.Errorf("%s: %+v", h.Path, h)
		}
		switch i % 3 {
		case 0:
			if err := iotest.TestReader(nr, []byte(f.data)); err != nil {
				t.Errorf("%q: %v", h.Path, err)
			}
		case 1: // read part, let Next skip the rest
			io.CopyN(io.Discard, nr, h.Size/2)
		}
		n++
	}
	if n < 20 {
		t.Fatalf("saw only %d files", n)
	}
}

func TestReaderErrors(t *testing.T) {
	long := strings.Repeat("n", nar.MaxNameLen+1)
	deep := []string{"nix-archive-1"}
	for range nar.MaxDepth {
		deep = append(deep, "(", "type", "directory", "entry", "(", "name", "d", "node")
	}
	deep = append(deep, "(", "type", "directory")
	badPad := narOf("nix-archive-1", "(", "type", "regular", "contents", "abc", ")")
	badPad[bytes.Index(badPad, []byte("abc"))+3] = 1 // a padding byte after "abc"
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "unexpected EOF"},
		{"not a NAR", []byte("<html>hello, this is not a NAR</html>"), "not a NAR"},
		{"wrong magic", narOf("nix-archive-2"), `not a NAR: expected "nix-archive-1"`},
		{"unknown type", narOf("nix-archive-1", "(", "type", "fifo", ")"), `unknown file type "fifo"`},
		{"unsorted", dirNAR(entry("b", fileNode...), entry("a", fileNode...)), `"a" does not sort after "b"`},
		{"duplicate", dirNAR(entry("a", fileNode...), entry("a", fileNode...)), `"a" does not sort after "a"`},
		{"empty name", dirNAR(entry("", fileNode...)), `invalid file name ""`},
		{"dot", dirNAR(entry(".", fileNode...)), `invalid file name "."`},
		{"dotdot", dirNAR(entry("..", fileNode...)), `invalid file name ".."`},
		{"slash", dirNAR(entry("a/b", fileNode...)), `invalid file name "a/b"`},
		{"nul", dirNAR(entry("a\x00", fileNode...)), `invalid file name "a\x00"`},
		{"long name", dirNAR(entry(long, fileNode...)), "file name of 256 bytes is longer than 255"},
		{"long target", narOf("nix-archive-1", "(", "type", "symlink", "target", strings.Repeat("t", 4096), ")"), "symlink target of 4096 bytes"},
		{"empty target", narOf("nix-archive-1", "(", "type", "symlink", "target", "", ")"), "invalid symlink target"},
		{"too deep", narOf(deep...), "nested deeper than 2048"},
		{"non-zero padding", badPad, "non-zero padding"},
		{"executable not empty", narOf("nix-archive-1", "(", "type", "regular", "executable", "yes", "contents", "", ")"), `expected ""`},
		{"no contents", narOf("nix-archive-1", "(", "type", "regular", ")"), `expected "contents"`},
		{"garbage in directory", narOf("nix-archive-1", "(", "type", "directory", "name", ")"), `expected "entry" or ")"`},
		{"unclosed entry", narOf("nix-archive-1", "(", "type", "directory", "entry", "(", "name", "a", "node", "(", "type", "regular", "contents", "", ")", ")"), "unexpected EOF"},
		{"long keyword", narOf("nix-archive-1", strings.Repeat("(", 17)), "expected a keyword, got a string of 17 bytes"},
		{"huge size", append(narOf("nix-archive-1", "(", "type", "regular", "contents"), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), "too large"},
		{"size beyond data", append(narOf("nix-archive-1", "(", "type", "regular", "contents"), 0, 0, 0, 0, 0, 0, 1, 0), "unexpected EOF"},
	}
	for _, tt := range tests {
		err := readToEnd(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

// readToEnd reads every header and all contents, returning the first error.
func readToEnd(in []byte) error {
	nr := nar.NewReader(bytes.NewReader(in))
	for {
		_, err := nr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, nr); err != nil {
			return err
		}
	}
}

// TestReaderTruncated cuts a NAR at every length: each prefix must fail
// with io.ErrUnexpectedEOF, and the error must stay.
func TestReaderTruncated(t *testing.T) {
	for n := range len(smallNAR) {
		err := readToEnd(smallNAR[:n])
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("prefix of %d bytes: %v", n, err)
		}
	}
	if err := readToEnd(smallNAR); err != nil {
		t.Fatal(err)
	}
}

func TestWriterErrors(t *testing.T) {
	reg := func(path string, size int64) *nar.Header {
		return &nar.Header{Path: path, Type: nar.TypeRegular, Size: size}
	}
	dir := func(path string) *nar.Header { return &nar.Header{Path: path, Type: nar.TypeDirectory} }
	tests := []struct {
		name    string
		headers []*nar.Header
		write   string // written after the last header
		want    error  // from the last WriteHeader, the Write, or Close
	}{
		{"no root", []*nar.Header{reg("/a", 0)}, "", nar.ErrOrder},
		{"two roots", []*nar.Header{dir("/"), dir("/")}, "", nar.ErrOrder},
		{"after root file", []*nar.Header{reg("/", 0), reg("/a", 0)}, "", nar.ErrOrder},
		{"unsorted", []*nar.Header{dir("/"), reg("/b", 0), reg("/a", 0)}, "", nar.ErrOrder},
		{"duplicate", []*nar.Header{dir("/"), reg("/a", 0), reg("/a", 0)}, "", nar.ErrOrder},
		{"closed dir", []*nar.Header{dir("/"), dir("/a"), reg("/b", 0), reg("/a/c", 0)}, "", nar.ErrOrder},
		{"missing parent", []*nar.Header{dir("/"), reg("/a/b", 0)}, "", nar.ErrOrder},
		{"too long", []*nar.Header{reg("/", 2)}, "abc", nar.ErrWriteTooLong},
		{"too short", []*nar.Header{dir("/"), reg("/a", 2), reg("/b", 0)}, "", nar.ErrWriteTooShort},
		{"too short at close", []*nar.Header{reg("/", 2)}, "a", nar.ErrWriteTooShort},
		{"no header", nil, "", nar.ErrOrder},
	}
	for _, tt := range tests {
		nw := nar.NewWriter(io.Discard)
		var err error
		for _, h := range tt.headers {
			if err = nw.WriteHeader(h); err != nil {
				break
			}
		}
		if err == nil && tt.write != "" {
			_, err = nw.Write([]byte(tt.write))
		}
		if err == nil {
			err = nw.Close()
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	for _, h := range []*nar.Header{
		{Path: "", Type: nar.TypeDirectory},
		{Path: "/a/", Type: nar.TypeDirectory},
		{Path: "/", Type: "fifo"},
		{Path: "/", Type: nar.TypeSymlink},
		{Path: "/", Type: nar.TypeRegular, Size: -1},
		{Path: "/", Type: nar.TypeDirectory, Size: 1},
	} {
		if err := nar.NewWriter(io.Discard).WriteHeader(h); err == nil {
			t.Errorf("WriteHeader(%+v) accepted", h)
		}
	}
	nw := nar.NewWriter(io.Discard)
	nw.WriteHeader(dir("/"))
	for _, name := range []string{".", "..", "a\x00b", strings.Repeat("n", 256)} {
		if err := nw.WriteHeader(reg("/"+name, 0)); err == nil {
			t.Errorf("WriteHeader accepted the name %q", name)
		}
	}
}

func TestWriterPropagatesErrors(t *testing.T) {
	boom := errors.New("disk full")
	nw := nar.NewWriter(failWriter{boom})
	if err := nw.WriteHeader(&nar.Header{Path: "/", Type: nar.TypeDirectory}); !errors.Is(err, boom) {
		t.Fatalf("WriteHeader: %v", err)
	}
	if err := nw.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close after a failure: %v", err)
	}
	if err := nar.DumpPath(failWriter{boom}, makeTree(t)); !errors.Is(err, boom) {
		t.Fatalf("DumpPath: %v", err)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestDumpUnsupported(t *testing.T) {
	if err := nar.DumpPath(io.Discard, "/dev/null"); err == nil || !strings.Contains(err.Error(), "unsupported file type") {
		t.Errorf("DumpPath(/dev/null): %v", err)
	}
	if err := nar.DumpPath(io.Discard, "/nonexistent/path"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("DumpPath of a missing path: %v", err)
	}
}

func TestListingJSON(t *testing.T) {
	l, err := nar.List(bytes.NewReader(smallNAR))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":1,"root":{"type":"directory","entries":{"a":{"type":"regular","size":10,"executable":true,"narOffset":264},` +
		`"b":{"type":"directory","entries":{"c":{"type":"symlink","target":"../a"}}},"d":{"type":"regular","size":4,"narOffset":` +
		itoa(bytes.Index(smallNAR, []byte("data"))) + `}}}}`
	if got := string(l.JSON()); got != want {
		t.Errorf("JSON() = %s\nwant     %s", got, want)
	}
	var back nar.Listing
	if err := json.Unmarshal(l.JSON(), &back); err != nil {
		t.Fatal(err)
	}
	if got := string(back.JSON()); got != want {
		t.Errorf("JSON() after json.Unmarshal = %s", got)
	}
}

func itoa(n int) string {
	var b []byte
	for ; n > 0 || len(b) == 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// FuzzNARReader feeds arbitrary bytes to the Reader. It must never panic,
// and whatever it accepts must be canonical: writing the headers and
// contents back gives the same bytes.
func FuzzNARReader(f *testing.F) {
	f.Add(smallNAR)
	f.Add(narOf("nix-archive-1", "(", "type", "symlink", "target", "x", ")"))
	f.Add(dirNAR(entry("b", fileNode...), entry("a", fileNode...)))
	if golden, err := os.ReadFile("testdata/tree.nar"); err == nil && len(golden) < 1<<20 {
		f.Add(golden[:4096])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		nr := nar.NewReader(bytes.NewReader(data))
		var out bytes.Buffer
		nw := nar.NewWriter(&out)
		for {
			h, err := nr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			if err := nw.WriteHeader(h); err != nil {
				t.Fatalf("Writer refused a header the Reader accepted: %v", err)
			}
			if _, err := io.Copy(nw, nr); err != nil {
				return // truncated contents
			}
		}
		if err := nw.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, out.Bytes()) {
			t.Fatalf("accepted a non-canonical NAR: rewritten %q, input %q", out.Bytes(), data)
		}
		if _, err := nar.List(bytes.NewReader(data)); err != nil {
			t.Fatalf("List failed where the Reader succeeded: %v", err)
		}
	})
}
