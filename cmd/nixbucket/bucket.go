package main

import (
	"flag"
	"fmt"
	"os"
)

const bucketUsage = `usage:
  nixbucket bucket policy set BUCKET FILE   set the bucket policy ("-" reads stdin)
  nixbucket bucket policy get BUCKET
  nixbucket bucket policy delete BUCKET
All take --data DIR (env NIXBUCKET_DATA, default ./nixbucket-data).`

func bucketCmd(args []string) error {
	if len(args) < 2 || args[0] != "policy" {
		return fmt.Errorf("%s", bucketUsage)
	}
	fs := flag.NewFlagSet("bucket policy "+args[1], flag.ContinueOnError)
	data := dataFlag(fs)
	switch args[1] {
	case "set":
		pos, err := parse(fs, args[2:], 2, 2, "bucket policy set BUCKET FILE")
		if err != nil {
			return err
		}
		doc, err := readPolicy(pos[1])
		if err != nil {
			return err
		}
		return withAdmin(*data, func(a *admin) error { return a.access.SetBucketPolicy(a.ctx, pos[0], doc) })
	case "get":
		pos, err := parse(fs, args[2:], 1, 1, "bucket policy get BUCKET")
		if err != nil {
			return err
		}
		return withAdmin(*data, func(a *admin) error {
			doc, err := a.access.BucketPolicy(a.ctx, pos[0])
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(doc)
			return err
		})
	case "delete":
		pos, err := parse(fs, args[2:], 1, 1, "bucket policy delete BUCKET")
		if err != nil {
			return err
		}
		return withAdmin(*data, func(a *admin) error { return a.access.DeleteBucketPolicy(a.ctx, pos[0]) })
	}
	return fmt.Errorf("unknown bucket policy command %q\n%s", args[1], bucketUsage)
}
