package nar

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// Writer writes a NAR. Call WriteHeader for each file in NAR order (the root
// "/" first, then a depth-first walk with each directory's entries sorted by
// name), Write the contents of regular files, and Close at the end. Writer
// checks the order, names and sizes, so what it writes is always a valid
// NAR.
type Writer struct {
	w   io.Writer
	buf []byte // tokens not yet written
	err error  // sticky

	started bool
	dirs    []openDir // open directories, root first
	inFile  bool      // a regular file's contents are being written
	nonRoot bool      // the open file or symlink is an entry (not the root)
	size    int64     // contents length of the open file
	left    int64     // contents not yet written
	closed  bool
	copyBuf []byte // ReadFrom's buffer, allocated on first use
}

type openDir struct {
	path string
	last string // name of the latest entry
}

// NewWriter returns a Writer that writes a NAR to w. Writes to w are a few
// hundred bytes per header and the caller's buffers for contents; wrap w in
// a bufio.Writer if small writes are expensive.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, buf: make([]byte, 0, 512)}
}

// WriteHeader starts the next file. Fields not meaningful for h.Type must
// be zero.
func (w *Writer) WriteHeader(h *Header) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return fmt.Errorf("%w: %s after Close", ErrOrder, h.Path)
	}
	if err := w.finishFile(); err != nil {
		return err
	}
	if err := w.check(h); err != nil {
		return w.fail(err)
	}
	if !w.started {
		if h.Path != "/" {
			return w.fail(fmt.Errorf("%w: the first header is %q, not the root \"/\"", ErrOrder, h.Path))
		}
		w.started = true
		w.str(magic)
		w.nonRoot = false
	} else {
		if h.Path == "/" {
			return w.fail(fmt.Errorf("%w: a second root", ErrOrder))
		}
		i := strings.LastIndexByte(h.Path, '/')
		parent, name := h.Path[:max(i, 1)], h.Path[i+1:]
		if err := validName(name); err != nil {
			return w.fail(fmt.Errorf("nar: %s: %w", h.Path, err))
		}
		for len(w.dirs) > 0 && w.dirs[len(w.dirs)-1].path != parent {
			w.closeDir()
		}
		if len(w.dirs) == 0 {
			return w.fail(fmt.Errorf("%w: %s is not inside an open directory", ErrOrder, h.Path))
		}
		top := &w.dirs[len(w.dirs)-1]
		if top.last != "" && name <= top.last {
			return w.fail(fmt.Errorf("%w: %s does not sort after %q", ErrOrder, h.Path, top.last))
		}
		top.last = name
		w.str("entry")
		w.str("(")
		w.str("name")
		w.str(name)
		w.str("node")
		w.nonRoot = true
	}
	w.str("(")
	w.str("type")
	switch h.Type {
	case TypeRegular:
		w.str("regular")
		if h.Executable {
			w.str("executable")
			w.str("")
		}
		w.str("contents")
		w.buf = binary.LittleEndian.AppendUint64(w.buf, uint64(h.Size))
		w.inFile, w.size, w.left = true, h.Size, h.Size
	case TypeSymlink:
		w.str("symlink")
		w.str("target")
		w.str(h.LinkTarget)
		w.str(")")
		if w.nonRoot {
			w.str(")")
		}
	case TypeDirectory:
		w.str("directory")
		w.dirs = append(w.dirs, openDir{path: h.Path})
	}
	return w.flush()
}

// check validates a header's own fields.
func (w *Writer) check(h *Header) error {
	if h.Path == "" || h.Path[0] != '/' || (h.Path != "/" && h.Path[len(h.Path)-1] == '/') {
		return fmt.Errorf("nar: path %q is not \"/\" or an absolute path without a trailing slash", h.Path)
	}
	switch h.Type {
	case TypeRegular:
		if h.Size < 0 || h.LinkTarget != "" {
			return fmt.Errorf("nar: %s: regular file with size %d and link target %q", h.Path, h.Size, h.LinkTarget)
		}
	case TypeSymlink:
		if h.LinkTarget == "" || h.Size != 0 || h.Executable || strings.IndexByte(h.LinkTarget, 0) >= 0 {
			return fmt.Errorf("nar: %s: symlink needs a target without NUL, and no size or executable bit", h.Path)
		}
	case TypeDirectory:
		if h.Size != 0 || h.Executable || h.LinkTarget != "" {
			return fmt.Errorf("nar: %s: directory with a size, executable bit or link target", h.Path)
		}
	default:
		return fmt.Errorf("nar: %s: unknown type %q", h.Path, h.Type)
	}
	return nil
}

// Write writes contents of the current regular file.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if !w.inFile {
		return 0, fmt.Errorf("%w: no regular file is open", ErrWriteTooLong)
	}
	var tooLong error
	if int64(len(p)) > w.left {
		p = p[:w.left]
		tooLong = fmt.Errorf("%w: more than %d bytes", ErrWriteTooLong, w.size)
	}
	n, err := w.w.Write(p)
	w.left -= int64(n)
	if err != nil {
		return n, w.fail(err)
	}
	return n, tooLong
}

// ReadFrom copies a regular file's contents from r with a large buffer,
// so that io.Copy(w, f) does not fall back to 32 KiB writes.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	if w.copyBuf == nil {
		w.copyBuf = make([]byte, 256<<10)
	}
	buf := w.copyBuf
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Close finishes the archive: it closes the open file and directories. It
// does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	if !w.started {
		return w.fail(fmt.Errorf("%w: no root header", ErrOrder))
	}
	if err := w.finishFile(); err != nil {
		return err
	}
	for len(w.dirs) > 0 {
		w.closeDir()
	}
	w.closed = true
	return w.flush()
}

// finishFile ends the open regular file, if any.
func (w *Writer) finishFile() error {
	if !w.inFile {
		return nil
	}
	if w.left != 0 {
		return w.fail(fmt.Errorf("%w: %d of %d bytes written", ErrWriteTooShort, w.size-w.left, w.size))
	}
	w.inFile = false
	w.buf = append(w.buf, make([]byte, padLen(w.size))...)
	w.str(")")
	if w.nonRoot {
		w.str(")")
	}
	return nil
}

func (w *Writer) closeDir() {
	d := w.dirs[len(w.dirs)-1]
	w.dirs = w.dirs[:len(w.dirs)-1]
	w.str(")")
	if d.path != "/" {
		w.str(")")
	}
}

// str appends one NAR string to the pending tokens.
func (w *Writer) str(s string) {
	w.buf = binary.LittleEndian.AppendUint64(w.buf, uint64(len(s)))
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, make([]byte, padLen(int64(len(s))))...)
}

func (w *Writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.w.Write(w.buf)
	w.buf = w.buf[:0]
	if err != nil {
		return w.fail(err)
	}
	return nil
}

func (w *Writer) fail(err error) error {
	w.err = err
	return err
}
