package localfs

import (
	"io"
	"os"
)

// blob is an open committed blob. It stays readable after Delete, as
// unlinked files do.
type blob struct {
	f    *os.File
	size int64
}

var _ io.ReaderAt = (*blob)(nil)

func (b *blob) Read(p []byte) (int, error)                   { return b.f.Read(p) }
func (b *blob) ReadAt(p []byte, off int64) (int, error)      { return b.f.ReadAt(p, off) }
func (b *blob) Seek(offset int64, whence int) (int64, error) { return b.f.Seek(offset, whence) }
func (b *blob) Close() error                                 { return b.f.Close() }

// Size returns the blob's length in bytes.
func (b *blob) Size() int64 { return b.size }

// File returns the open file behind the blob. It is an optional ability,
// checked with a type assertion on interface{ File() *os.File }: handing
// the *os.File itself to http.ServeContent or io.Copy lets net/http send
// it with sendfile(2), which a wrapper type defeats. The file belongs to
// the blob; Close the blob, not the file.
func (b *blob) File() *os.File { return b.f }
