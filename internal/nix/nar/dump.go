package nar

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// DumpPath writes the NAR serialisation of the file system tree at path to
// w, exactly as `nix-store --dump` does: symbolic links are stored, never
// followed; a regular file is executable when its owner may execute it;
// directory entries are sorted by name in byte order. Other file types
// (sockets, devices, FIFOs) are an error. It streams: memory use does not
// depend on file sizes.
func DumpPath(w io.Writer, path string) error {
	nw := NewWriter(w)
	if err := dump(nw, path, "/"); err != nil {
		return err
	}
	return nw.Close()
}

func dump(nw *Writer, file, narPath string) error {
	fi, err := os.Lstat(file)
	if err != nil {
		return fmt.Errorf("nar: %w", err)
	}
	switch mode := fi.Mode(); {
	case mode.IsRegular():
		return dumpFile(nw, file, narPath, fi)
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(file)
		if err != nil {
			return fmt.Errorf("nar: %w", err)
		}
		return nw.WriteHeader(&Header{Path: narPath, Type: TypeSymlink, LinkTarget: target})
	case mode.IsDir():
		if err := nw.WriteHeader(&Header{Path: narPath, Type: TypeDirectory}); err != nil {
			return err
		}
		entries, err := os.ReadDir(file) // sorted by name, in byte order
		if err != nil {
			return fmt.Errorf("nar: %w", err)
		}
		for _, e := range entries {
			if err := dump(nw, filepath.Join(file, e.Name()), childPath(narPath, e.Name())); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("nar: %s: unsupported file type %v", file, mode.Type())
	}
}

func dumpFile(nw *Writer, file, narPath string, fi fs.FileInfo) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("nar: %w", err)
	}
	defer f.Close()
	size := fi.Size()
	h := &Header{Path: narPath, Type: TypeRegular, Size: size, Executable: fi.Mode()&0o100 != 0}
	if err := nw.WriteHeader(h); err != nil {
		return err
	}
	n, err := io.CopyN(nw, f, size)
	if nw.err != nil {
		return nw.err // the destination failed, not the file
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("nar: %s shrank while being read: %d of %d bytes", file, n, size)
	}
	if err != nil {
		return fmt.Errorf("nar: reading %s: %w", file, err)
	}
	return nil
}
