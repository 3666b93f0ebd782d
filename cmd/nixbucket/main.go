// Command nixbucket is an S3-compatible, Nix-aware binary cache server and
// a fast pusher for Nix closures. It is the only place that reads flags,
// the environment and files named by the user.
package main

import (
	"fmt"
	"os"
)

const usage = `nixbucket — a Nix binary cache that speaks S3

Usage:
  nixbucket serve [flags]            run the server (nixbucket serve -h for flags)
  nixbucket user ...                 users, their access keys and IAM policies
  nixbucket token ...                tokens for plain-HTTP clients (netrc, Bearer)
  nixbucket bucket policy ...        bucket policies
  nixbucket push --to URL PATH...    push closures to a binary cache (s3://, http(s)://, file://)
  nixbucket info [--data DIR]        print the first start's banner again: endpoint, keys, commands
  nixbucket use URL [--write]        the nix.conf (and netrc) lines to use a cache
  nixbucket version                  print the version

Run a command without arguments for its usage.

`

// version is set by the linker (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "serve":
		err = serve(args)
	case "user":
		err = userCmd(args)
	case "token":
		err = tokenCmd(args)
	case "bucket":
		err = bucketCmd(args)
	case "push":
		err = pushCmd(args)
	case "info":
		err = infoCmd(args)
	case "use":
		err = useCmd(args)
	case "version", "--version":
		fmt.Println("nixbucket", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "nixbucket: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "nixbucket:", err)
		os.Exit(1)
	}
}
