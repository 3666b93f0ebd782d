package nar

import (
	"fmt"
	"io"
)

// The server and push list NARs (List) without reading file contents;
// the tests read them, through these.

// Read reads contents of the current regular file. It returns io.EOF at the
// end of the file, and 0, io.EOF for directories and symlinks.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if !r.inFile || r.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.r.Read(p)
	r.pos += int64(n)
	r.left -= int64(n)
	if err == io.EOF {
		if r.left > 0 {
			err = io.ErrUnexpectedEOF
		} else {
			err = nil
		}
	}
	if err != nil {
		r.err = fmt.Errorf("nar: at offset %d: %w", r.pos, err)
		return n, r.err
	}
	return n, nil
}

// WriteTo copies the rest of the current file to w; it lets io.Copy use the
// Reader's buffer instead of another one.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	if r.err != nil {
		return 0, r.err
	}
	if !r.inFile || r.left == 0 {
		return 0, nil
	}
	n, err := io.CopyN(w, r.r, r.left)
	r.pos += n
	r.left -= n
	if err == io.EOF {
		r.err = fmt.Errorf("nar: at offset %d: %w", r.pos, io.ErrUnexpectedEOF)
		return n, r.err
	}
	return n, err
}
