package main

import (
	"cmp"
	"os"
	"path/filepath"
	"slices"

	"github.com/nixbucket/nixbucket/internal/nixconf"
)

// defaultPushNetrc is the netrc file push reads when --netrc-file is not
// given: "" (the target's own default, $NETRC or ~/.netrc) when either is
// there, else Nix's netrc-file if it exists, so that push finds the
// credentials `nix copy` finds (/etc/nix/netrc, or the file nix.conf
// names, where `nixbucket use --write --netrc-file` points it).
func defaultPushNetrc() string {
	if os.Getenv("NETRC") != "" {
		return ""
	}
	if home, err := os.UserHomeDir(); err == nil {
		if _, err := os.Stat(filepath.Join(home, ".netrc")); err == nil {
			return ""
		}
	}
	f := nixNetrcFile()
	if _, err := os.Stat(f); err != nil {
		return ""
	}
	return f
}

// nixNetrcFile returns Nix's netrc-file setting: as Nix reads its
// configuration, the system nix.conf ($NIX_CONF_DIR/nix.conf), then the
// user's ($NIX_USER_CONF_FILES, the first winning, else
// $XDG_CONFIG_HOME/nix/nix.conf), then NIX_CONFIG, a later one overriding
// an earlier one; by default $NIX_CONF_DIR/netrc. (include directives are
// not followed.)
func nixNetrcFile() string {
	confDir := cmp.Or(os.Getenv("NIX_CONF_DIR"), "/etc/nix")
	files := []string{filepath.Join(confDir, "nix.conf")}
	if user := filepath.SplitList(os.Getenv("NIX_USER_CONF_FILES")); len(user) > 0 && user[0] != "" {
		slices.Reverse(user)
		files = append(files, user...)
	} else if dir, err := os.UserConfigDir(); err == nil {
		files = append(files, filepath.Join(dir, "nix", "nix.conf"))
	}
	netrc := filepath.Join(confDir, "netrc")
	set := func(text []byte) {
		if v := nixconf.Parse(text).Value("netrc-file"); v != "" {
			netrc = v
		}
	}
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			set(b)
		}
	}
	set([]byte(os.Getenv("NIX_CONFIG")))
	return netrc
}
