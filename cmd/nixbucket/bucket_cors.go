package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/nixbucket/nixbucket/internal/cors"
)

const bucketCORSUsage = `  nixbucket bucket cors set BUCKET FILE|public      set the CORS configuration: S3's XML or the aws
                                                    CLI's JSON ({"CORSRules": [...]}; "-" reads stdin;
                                                    public: any web page may read what anyone may)
  nixbucket bucket cors get BUCKET                 print it (the aws CLI's JSON)
  nixbucket bucket cors delete BUCKET
`

// bucketCORSCmd keeps a bucket's CORS configuration, as PutBucketCors,
// GetBucketCors and DeleteBucketCors do.
func bucketCORSCmd(fs *flag.FlagSet, data *string, args []string) error {
	switch args[0] {
	case "set":
		pos, err := parse(fs, args[1:], 2, 2, "bucket cors set BUCKET FILE|public")
		if err != nil {
			return err
		}
		var c *cors.Config
		if _, serr := os.Stat(pos[1]); pos[1] == "public" && serr != nil {
			c = cors.Public()
		} else {
			doc, err := readDoc("CORS configuration", pos[1])
			if err != nil {
				return err
			}
			if c, err = cors.ParseAny(doc); err != nil {
				return fmt.Errorf("%s: %w", pos[1], err)
			}
		}
		return withCORS(*data, func(a *admin, s *cors.Service) error {
			return s.Set(a.ctx, pos[0], c)
		})
	case "get":
		pos, err := parse(fs, args[1:], 1, 1, "bucket cors get BUCKET")
		if err != nil {
			return err
		}
		return withCORS(*data, func(a *admin, s *cors.Service) error {
			if _, err := a.store.Bucket(a.ctx, pos[0]); err != nil {
				return err
			}
			c, err := s.Config(a.ctx, pos[0])
			if err != nil {
				return err
			}
			if c == nil {
				return fmt.Errorf("bucket %s has no CORS configuration (nixbucket bucket cors set %s public)", pos[0], pos[0])
			}
			_, err = os.Stdout.Write(c.JSON())
			return err
		})
	case "delete":
		pos, err := parse(fs, args[1:], 1, 1, "bucket cors delete BUCKET")
		if err != nil {
			return err
		}
		return withCORS(*data, func(a *admin, s *cors.Service) error {
			return s.Delete(a.ctx, pos[0])
		})
	}
	return fmt.Errorf("unknown bucket cors command %q\n%s", args[0], bucketUsage)
}

// withCORS runs fn with the data's CORS configurations.
func withCORS(data string, fn func(*admin, *cors.Service) error) error {
	return withAdmin(data, func(a *admin) error {
		st, ok := a.store.(cors.Store)
		if !ok {
			return fmt.Errorf("this metadata store keeps no CORS configurations")
		}
		return fn(a, &cors.Service{Store: st})
	})
}
