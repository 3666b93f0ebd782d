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

// versionText is what the version command prints.
func versionText() string {
	bi, _ := debug.ReadBuildInfo()
	return formatVersion(version, bi)
}

// versionName is the version the server's and the proxy's logs name: the
// one the version command prints.
func versionName() string {
	bi, _ := debug.ReadBuildInfo()
	return versionOf(version, bi)
}

// versionOf is ldflags' version unless that is "dev", then the module's
// from bi, if it has one.
func versionOf(ldflags string, bi *debug.BuildInfo) string {
	if ldflags == "dev" && bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return ldflags
}

// formatVersion prints the version, which is ldflags' (the -X
// main.version value) unless that is "dev", then the module's from bi
// (v1.2.3 after go install …@v1.2.3); bi's VCS revision, with "(dirty)"
// for a build from a modified tree; and the Go toolchain. bi may be nil.
func formatVersion(ldflags string, bi *debug.BuildInfo) string {
	v := versionOf(ldflags, bi)
	s := map[string]string{}
	if bi != nil {
		for _, kv := range bi.Settings {
			s[kv.Key] = kv.Value
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "nixbucket %s\n", v)
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
	if bi != nil && bi.Main.Path != "" {
		fmt.Fprintf(&b, "module: %s\n", bi.Main.Path)
	}
	goVersion := runtime.Version()
	if bi != nil && bi.GoVersion != "" {
		goVersion = bi.GoVersion
	}
	fmt.Fprintf(&b, "go: %s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}
