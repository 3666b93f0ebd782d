// Package nar reads and writes Nix archives (NAR), the canonical
// serialisation of a store path that Nix hashes (NarHash) and binary caches
// store, and produces the JSON listings (.ls files) Nix writes beside them.
//
// A NAR is a sequence of strings, each an 8-byte little-endian length, the
// bytes, and zero padding to a multiple of 8:
//
//	nar       = "nix-archive-1" node
//	node      = "(" "type" ( regular | symlink | directory ) ")"
//	regular   = "regular" [ "executable" "" ] "contents" CONTENTS
//	symlink   = "symlink" "target" TARGET
//	directory = "directory" { "entry" "(" "name" NAME "node" node ")" }
//
// Directory entries are sorted by name in byte order, so every tree has
// exactly one NAR. Reader and Writer work like archive/tar: a Header per
// file, then the file's contents through Read or Write.
package nar

import (
	"errors"
	"fmt"
)

// Type is the type of a file in a NAR; its value is the NAR and listing
// spelling.
type Type string

// The three file types a NAR can hold.
const (
	TypeRegular   Type = "regular"
	TypeDirectory Type = "directory"
	TypeSymlink   Type = "symlink"
)

// Header describes one file of a NAR.
type Header struct {
	// Path is "/" for the root of the archive and "/a/b" for the file b in
	// the directory a; names may hold any byte but '/' and NUL.
	Path       string
	Type       Type
	Executable bool   // regular files only
	Size       int64  // regular files only: length of the contents
	LinkTarget string // symlinks only
	// Offset is, for regular files, the position of the contents in the NAR
	// (the narOffset of listings). Reader sets it; Writer ignores it.
	Offset int64
}

// Limits on what Reader accepts, so untrusted input cannot make it hold
// large strings or recurse without bound. They are far above what a Linux
// file system can store (NAME_MAX 255, PATH_MAX 4096).
const (
	MaxNameLen   = 255
	MaxTargetLen = 4095
	MaxDepth     = 2048
)

const magic = "nix-archive-1"

// Errors a Writer returns for misuse, wrapped with detail.
var (
	// ErrWriteTooLong is returned by Write past the Size in the header.
	ErrWriteTooLong = errors.New("nar: write too long")
	// ErrWriteTooShort is returned when a file's contents end before Size.
	ErrWriteTooShort = errors.New("nar: missing file contents")
	// ErrOrder is returned for a header that is not the next file in
	// NAR order (a depth-first walk with entries sorted by name).
	ErrOrder = errors.New("nar: file out of order")
)

// validName checks a directory entry name as Nix does: not empty, "." or
// "..", and without '/' or NUL.
func validName(name string) error {
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("invalid file name %q", name)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("file name %.20q… longer than %d bytes", name, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return fmt.Errorf("invalid file name %q", name)
		}
	}
	return nil
}

// childPath returns the path of name inside dir.
func childPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// padLen returns the zero padding after n bytes.
func padLen(n int64) int64 { return (8 - n%8) % 8 }
