package nixconf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nixbucket/nixbucket/internal/atomicfile"
)

// WriteFile replaces the file at path with data atomically (a synced
// temporary file in the same directory, renamed over it), keeping the
// file's mode, or giving a new one mode. A symbolic link is followed and
// its target replaced, so a link stays a link; a target in the Nix store
// (NixOS's /etc/nix/nix.conf) is refused, since it is read-only and
// generated. Missing parent directories are created.
func WriteFile(path string, data []byte, mode fs.FileMode) error {
	return write(path, data, mode, true)
}

// WritePrivate is WriteFile for a file that holds secrets (a netrc): it
// is left readable and writable by its owner alone (0600), whatever its
// mode was.
func WritePrivate(path string, data []byte) error {
	return write(path, data, 0o600, false)
}

func write(path string, data []byte, mode fs.FileMode, keepMode bool) error {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if strings.HasPrefix(path, "/nix/store/") {
		return fmt.Errorf("%s is in the read-only Nix store (generated, as on NixOS): set these options in your system configuration instead", path)
	}
	if fi, err := os.Stat(path); err == nil && keepMode {
		mode = fi.Mode().Perm()
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, data, mode)
}
