package nar

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// Reader reads a NAR like archive/tar reads a tar file: Next returns each
// file's Header in NAR order, skipping the contents (List is what the
// server and push need; the tests read contents through export_test.go).
// It checks the archive as strictly as it is written: known
// tokens only, zero padding, valid names in strictly increasing order, and
// the limits MaxNameLen, MaxTargetLen and MaxDepth.
type Reader struct {
	r   *bufio.Reader
	pos int64 // bytes consumed from the archive
	err error // sticky

	started bool
	dirs    []string // paths of open directories, root first
	last    []string // latest entry name in each open directory
	inFile  bool     // contents of the current file are being read
	nonRoot bool     // the current regular file is an entry (not the root)
	size    int64
	left    int64
	scratch [16]byte
	pad     [8]byte
	strBuf  []byte // names and targets before they become strings
}

// NewReader returns a Reader of the NAR in r. It reads r through a buffer
// and may read past the end of the archive.
func NewReader(r io.Reader) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &Reader{r: br}
}

// Next advances to the next file and returns its header, skipping the
// current file's contents. At the end of the archive it
// returns io.EOF; an archive that ends early gives io.ErrUnexpectedEOF. The
// Header is the caller's to keep.
func (r *Reader) Next() (*Header, error) {
	if r.err != nil {
		return nil, r.err
	}
	h, err := r.next()
	if err != nil {
		if err != io.EOF {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			err = fmt.Errorf("nar: at offset %d: %w", r.pos, err)
		}
		r.err = err
		return nil, err
	}
	return h, nil
}

func (r *Reader) next() (*Header, error) {
	if !r.started {
		r.started = true
		if err := r.expect(magic); err != nil {
			return nil, fmt.Errorf("not a NAR: %w", err)
		}
		return r.node("/")
	}
	if r.inFile {
		if err := r.skipContents(); err != nil {
			return nil, err
		}
		if err := r.closeNode(r.nonRoot); err != nil {
			return nil, err
		}
	}
	for len(r.dirs) > 0 {
		tok, err := r.token()
		if err != nil {
			return nil, err
		}
		top := len(r.dirs) - 1
		switch tok {
		case ")":
			dir := r.dirs[top]
			r.dirs, r.last = r.dirs[:top], r.last[:top]
			if dir != "/" {
				if err := r.expect(")"); err != nil {
					return nil, err
				}
			}
			continue
		case "entry":
		default:
			return nil, fmt.Errorf("in directory %s: expected \"entry\" or \")\", got %q", r.dirs[top], tok)
		}
		for _, want := range []string{"(", "name"} {
			if err := r.expect(want); err != nil {
				return nil, err
			}
		}
		name, err := r.str(MaxNameLen, "file name")
		if err != nil {
			return nil, err
		}
		if err := validName(name); err != nil {
			return nil, fmt.Errorf("in directory %s: %w", r.dirs[top], err)
		}
		if r.last[top] != "" && name <= r.last[top] {
			return nil, fmt.Errorf("in directory %s: %q does not sort after %q", r.dirs[top], name, r.last[top])
		}
		r.last[top] = name
		if err := r.expect("node"); err != nil {
			return nil, err
		}
		return r.node(childPath(r.dirs[top], name))
	}
	return nil, io.EOF
}

// node reads a node up to its type-specific header fields.
func (r *Reader) node(path string) (*Header, error) {
	for _, want := range []string{"(", "type"} {
		if err := r.expect(want); err != nil {
			return nil, err
		}
	}
	tok, err := r.token()
	if err != nil {
		return nil, err
	}
	h := &Header{Path: path}
	switch tok {
	case "regular":
		h.Type = TypeRegular
		tok, err := r.token()
		if err != nil {
			return nil, err
		}
		if tok == "executable" {
			h.Executable = true
			if err := r.expect(""); err != nil {
				return nil, err
			}
			tok, err = r.token()
			if err != nil {
				return nil, err
			}
		}
		if tok != "contents" {
			return nil, fmt.Errorf("%s: expected \"contents\", got %q", path, tok)
		}
		n, err := r.uint64()
		if err != nil {
			return nil, err
		}
		if n > math.MaxInt64-8 {
			return nil, fmt.Errorf("%s: file size %d too large", path, n)
		}
		h.Size, h.Offset = int64(n), r.pos
		r.inFile, r.nonRoot, r.size, r.left = true, path != "/", h.Size, h.Size
	case "symlink":
		h.Type = TypeSymlink
		if err := r.expect("target"); err != nil {
			return nil, err
		}
		if h.LinkTarget, err = r.str(MaxTargetLen, "symlink target"); err != nil {
			return nil, err
		}
		if h.LinkTarget == "" || strings.IndexByte(h.LinkTarget, 0) >= 0 {
			return nil, fmt.Errorf("%s: invalid symlink target %q", path, h.LinkTarget)
		}
		if err := r.closeNode(path != "/"); err != nil {
			return nil, err
		}
	case "directory":
		h.Type = TypeDirectory
		if len(r.dirs) >= MaxDepth {
			return nil, fmt.Errorf("%s: directories nested deeper than %d", path, MaxDepth)
		}
		r.dirs = append(r.dirs, path)
		r.last = append(r.last, "")
	default:
		return nil, fmt.Errorf("%s: unknown file type %q", path, tok)
	}
	return h, nil
}

// closeNode reads the ")" that ends a node and, for an entry, the ")" that
// ends the entry.
func (r *Reader) closeNode(entry bool) error {
	if err := r.expect(")"); err != nil {
		return err
	}
	if entry {
		return r.expect(")")
	}
	return nil
}

// skipContents discards the unread contents of the current file and checks
// its padding.
func (r *Reader) skipContents() error {
	n, err := r.r.Discard(int(min(r.left, math.MaxInt)))
	r.pos += int64(n)
	r.left -= int64(n)
	for err == nil && r.left > 0 { // only for sizes above MaxInt on 32-bit
		n, err = r.r.Discard(int(min(r.left, math.MaxInt32)))
		r.pos += int64(n)
		r.left -= int64(n)
	}
	if err != nil {
		return err
	}
	r.inFile = false
	return r.padding(r.size)
}

// token reads a string of at most 16 bytes: a NAR keyword.
func (r *Reader) token() (string, error) {
	n, err := r.uint64()
	if err != nil {
		return "", err
	}
	if n > uint64(len(r.scratch)) {
		return "", fmt.Errorf("expected a keyword, got a string of %d bytes", n)
	}
	b := r.scratch[:n]
	if err := r.full(b); err != nil {
		return "", err
	}
	if err := r.padding(int64(n)); err != nil {
		return "", err
	}
	return keyword(b), nil
}

// keyword returns the interned keyword for b, or a copy of b.
func keyword(b []byte) string {
	for _, k := range keywords {
		if string(b) == k {
			return k
		}
	}
	return string(b)
}

var keywords = []string{"(", ")", "type", "regular", "directory", "symlink", "entry",
	"name", "node", "contents", "executable", "target", "", magic}

func (r *Reader) expect(want string) error {
	tok, err := r.token()
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("expected %q, got %q", want, tok)
	}
	return nil
}

// str reads a string of at most max bytes.
func (r *Reader) str(max int, what string) (string, error) {
	n, err := r.uint64()
	if err != nil {
		return "", err
	}
	if n > uint64(max) {
		return "", fmt.Errorf("%s of %d bytes is longer than %d", what, n, max)
	}
	if uint64(cap(r.strBuf)) < n {
		r.strBuf = make([]byte, n)
	}
	b := r.strBuf[:n]
	if err := r.full(b); err != nil {
		return "", err
	}
	if err := r.padding(int64(n)); err != nil {
		return "", err
	}
	return string(b), nil
}

func (r *Reader) uint64() (uint64, error) {
	b := r.scratch[:8]
	if err := r.full(b); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (r *Reader) padding(n int64) error {
	p := r.pad[:padLen(n)]
	if err := r.full(p); err != nil {
		return err
	}
	for _, c := range p {
		if c != 0 {
			return errors.New("non-zero padding")
		}
	}
	return nil
}

func (r *Reader) full(b []byte) error {
	n, err := io.ReadFull(r.r, b)
	r.pos += int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}
