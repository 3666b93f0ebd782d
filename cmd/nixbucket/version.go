package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// versionCmd prints the version, the VCS revision the binary was built
// from and the Go toolchain.
func versionCmd(args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if _, err := parse(fs, args, 0, 0, "version"); err != nil {
		return err
	}
	_, err := fmt.Fprint(os.Stdout, versionText())
	return err
}

// moduleVersion is the -ldflags version when one was set, else the
// module's version from the build info (v1.2.3 from go install
// …@v1.2.3), else "dev".
func moduleVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

// versionText is what the version command prints.
func versionText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "nixbucket %s\n", moduleVersion())
	if bi, ok := debug.ReadBuildInfo(); ok {
		s := map[string]string{}
		for _, kv := range bi.Settings {
			s[kv.Key] = kv.Value
		}
		if rev := s["vcs.revision"]; rev != "" {
			if s["vcs.modified"] == "true" {
				rev += " (dirty)"
			}
			fmt.Fprintf(&b, "revision: %s\n", rev)
			if t := s["vcs.time"]; t != "" {
				fmt.Fprintf(&b, "commit time: %s\n", t)
			}
		} else {
			fmt.Fprintf(&b, "revision: unknown (built without VCS information)\n")
		}
		if bi.Main.Path != "" {
			fmt.Fprintf(&b, "module: %s\n", bi.Main.Path)
		}
	}
	fmt.Fprintf(&b, "go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return b.String()
}
