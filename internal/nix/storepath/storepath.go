// Package storepath parses and validates Nix store paths:
// <store dir>/<hash>-<name>, where the hash part is 32 Nix base-32 characters
// (160 bits) and the name follows Nix's naming rules.
package storepath

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nixbucket/nixbucket/internal/nix/nixbase32"
)

// DefaultDir is the store directory of a standard Nix install.
const DefaultDir = "/nix/store"

const (
	// HashLen is the length of a store path's hash part.
	HashLen = 32
	// MaxNameLen is the longest name Nix accepts (StorePath::MaxPathLen).
	MaxNameLen = 211
)

// Path is a valid store path. The zero Path is not valid; Paths are
// comparable and can be map keys.
type Path struct {
	dir  string
	hash string
	name string
}

// Hash returns the hash part, the 32 base-32 characters that are also the
// path's narinfo key (<hash>.narinfo).
func (p Path) Hash() string { return p.hash }

// String returns the absolute path, "<dir>/<hash>-<name>".
func (p Path) String() string { return p.dir + "/" + p.hash + "-" + p.name }

// Parse parses an absolute store path in any store directory: the directory
// is everything before the last slash. Use Containing to require a
// directory.
func Parse(s string) (Path, error) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return Path{}, fmt.Errorf("store path %q is not absolute", s)
	}
	dir := s[:i]
	if err := ValidateDir(dir); err != nil {
		return Path{}, fmt.Errorf("store path %q: %w", s, err)
	}
	p, err := ParseBase(s[i+1:])
	if err != nil {
		return Path{}, fmt.Errorf("store path %q: %w", s, err)
	}
	p.dir = dir
	return p, nil
}

// Containing returns the store path in dir that contains file, which may be
// the store path itself or a file below it ("/nix/store/…-hello/bin/hello").
// It does not follow symbolic links.
func Containing(dir, file string) (Path, error) {
	rest, ok := strings.CutPrefix(file, dir+"/")
	if !ok {
		return Path{}, fmt.Errorf("path %q is not in the Nix store %q", file, dir)
	}
	base, _, _ := strings.Cut(rest, "/")
	p, err := ParseBase(base)
	if err != nil {
		return Path{}, fmt.Errorf("path %q: %w", file, err)
	}
	p.dir = dir
	return p, nil
}

// ParseBase parses "<hash>-<name>" (a narinfo reference) into a Path in
// DefaultDir.
func ParseBase(base string) (Path, error) {
	if len(base) < HashLen+2 || base[HashLen] != '-' {
		return Path{}, fmt.Errorf("store path base name %q is not <hash>-<name>", base)
	}
	hash, name := base[:HashLen], base[HashLen+1:]
	if err := ValidateHash(hash); err != nil {
		return Path{}, err
	}
	if err := ValidateName(name); err != nil {
		return Path{}, err
	}
	return Path{dir: DefaultDir, hash: hash, name: name}, nil
}

// ValidateHash checks a hash part: exactly 32 Nix base-32 characters.
func ValidateHash(hash string) error {
	if len(hash) != HashLen {
		return fmt.Errorf("store path hash %q is %d characters, want %d", hash, len(hash), HashLen)
	}
	if err := nixbase32.ValidateString(hash); err != nil {
		return fmt.Errorf("store path hash %q: %w", hash, err)
	}
	return nil
}

// ValidateName checks a store path name: 1 to 211 characters from
// [A-Za-z0-9+-._?=]. Like current Nix (2.20 and later), it rejects "." and
// ".." and names that start with ".-" or "..-"; other names starting with a
// dot are valid, and Nix 2.8 accepted even those.
func ValidateName(name string) error {
	if name == "" {
		return errors.New("store path name is empty")
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("store path name %.20q… is %d characters, longer than %d", name, len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if !nameChar[name[i]] {
			return fmt.Errorf("store path name %q contains the illegal character %q", name, name[i])
		}
	}
	if name == "." || name == ".." || strings.HasPrefix(name, ".-") || strings.HasPrefix(name, "..-") {
		return fmt.Errorf("store path name %q is not allowed", name)
	}
	return nil
}

var nameChar = func() (m [256]bool) {
	for c := '0'; c <= '9'; c++ {
		m[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		m[c] = true
		m[c-'a'+'A'] = true
	}
	for _, c := range "+-._?=" {
		m[c] = true
	}
	return m
}()

// ValidateDir checks a store directory: absolute, without a trailing slash,
// and clean (no empty, "." or ".." elements).
func ValidateDir(dir string) error {
	if !strings.HasPrefix(dir, "/") || len(dir) < 2 {
		return fmt.Errorf("store directory %q is not an absolute directory", dir)
	}
	for _, e := range strings.Split(dir[1:], "/") {
		if e == "" || e == "." || e == ".." {
			return fmt.Errorf("store directory %q is not a clean absolute path", dir)
		}
	}
	return nil
}
