// Command nixbucket is an S3-compatible, Nix-aware binary cache server and
// a fast pusher for Nix closures. It is the only place that reads flags,
// the environment and files named by the user.
package main

import "os"

// version is set by the linker (-ldflags "-X main.version=…"); left at
// "dev", the version command reads the module's from the build info.
var version = "dev"

// main runs the command the table in cli.go names; a new command is one
// line there.
func main() {
	os.Exit(runCLI(os.Args[1:]))
}
