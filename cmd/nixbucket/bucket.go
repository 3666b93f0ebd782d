package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nixbucket/nixbucket/internal/binarycache"
	"github.com/nixbucket/nixbucket/internal/cors"
	"github.com/nixbucket/nixbucket/internal/lifecycle"
	"github.com/nixbucket/nixbucket/internal/meta"
	"github.com/nixbucket/nixbucket/internal/nix/signature"
	"github.com/nixbucket/nixbucket/internal/units"
)

const bucketUsage = `usage:
  nixbucket bucket policy set BUCKET FILE|anonymous-read   set the bucket policy ("-" reads stdin;
                                                    anonymous-read: the seed's public-read policy)
  nixbucket bucket policy get BUCKET
  nixbucket bucket policy delete BUCKET
` + bucketCORSUsage + `  nixbucket bucket set BUCKET priority=N want-mass-query=0|1   what nix-cache-info says
  nixbucket bucket set BUCKET abort-uploads-days=N  abort multipart uploads N days old (default 7; 0: never)
  nixbucket bucket set BUCKET keep-days=N max-size=SIZE gc=on|off gc-grace=DURATION   retention (nixbucket gc)
  nixbucket bucket set BUCKET upstreams='URL …' upstream-keys='NAME:KEY …'   pull through from upstream
                    caches (upstream-trust=keys|any upstream-negative-ttl=1h upstream-max-conns=16
                    upstream-timeout=3s)
  nixbucket bucket info BUCKET                     paths, NAR and file bytes, settings, keys
  nixbucket bucket key generate BUCKET [NAME]      add a fresh narinfo signing key
  nixbucket bucket key add BUCKET FILE             add a key from nix-store --generate-binary-cache-key
  nixbucket bucket key remove BUCKET NAME
  nixbucket bucket public-key BUCKET               the keys in trusted-public-keys form
` + bucketAdminUsage + `
All take --data DIR (env NIXBUCKET_DATA, default ./nixbucket-data), or --meta URL
(env NIXBUCKET_META) for a PostgreSQL store.`

func bucketCmd(args []string) error {
	if len(args) < 1 || len(args) < 2 && args[0] != "list" {
		return fmt.Errorf("%s", bucketUsage)
	}
	fs := flag.NewFlagSet("bucket "+args[0], flag.ContinueOnError)
	data := dataFlag(fs)
	switch args[0] {
	case "policy":
		return bucketPolicyCmd(fs, data, args[1:])
	case "cors":
		return bucketCORSCmd(fs, data, args[1:])
	case "key":
		return bucketKeyCmd(fs, data, args[1:])
	case "create":
		return bucketCreateCmd(fs, data, args[1:])
	case "list":
		return bucketListCmd(fs, data, args[1:])
	case "delete":
		return bucketDeleteCmd(fs, data, args[1:])
	case "resign":
		return bucketResignCmd(fs, data, args[1:])
	case "set":
		return bucketSetCmd(fs, data, args[1:])
	case "info":
		pos, err := parse(fs, args[1:], 1, 1, "bucket info BUCKET")
		if err != nil {
			return err
		}
		return withAdmin(*data, func(a *admin) error { return bucketInfo(a, pos[0]) })
	case "public-key":
		pos, err := parse(fs, args[1:], 1, 1, "bucket public-key BUCKET")
		if err != nil {
			return err
		}
		return withAdmin(*data, func(a *admin) error {
			keys, err := binarycache.PublicKeys(a.ctx, a.store, pos[0])
			if err != nil {
				return err
			}
			if len(keys) == 0 {
				return fmt.Errorf("bucket %s has no signing key (nixbucket bucket key generate %s)", pos[0], pos[0])
			}
			fmt.Println(strings.Join(keys, " "))
			return nil
		})
	}
	return fmt.Errorf("unknown bucket command %q\n%s", args[0], bucketUsage)
}

func bucketInfo(a *admin, bucket string) error {
	st, err := a.store.CacheStats(a.ctx, bucket)
	if err != nil {
		return err
	}
	cs, err := a.store.CacheSettings(a.ctx, bucket)
	if err != nil {
		return err
	}
	keys, err := binarycache.PublicKeys(a.ctx, a.store, bucket)
	if err != nil {
		return err
	}
	fmt.Printf("bucket:          %s\n", bucket)
	fmt.Printf("store paths:     %d\n", st.Paths)
	fmt.Printf("NAR bytes:       %d (%s)\n", st.NarBytes, units.Bytes(st.NarBytes))
	fmt.Printf("file bytes:      %d (%s)\n", st.FileBytes, units.Bytes(st.FileBytes))
	fmt.Printf("priority:        %d\n", cs.Priority)
	fmt.Printf("want-mass-query: %v\n", cs.WantMassQuery)
	if days, err := (&lifecycle.Service{Store: a.store}).AbortUploadsDays(a.ctx, bucket); err == nil {
		fmt.Printf("abort-uploads-days: %d\n", days)
	}
	fmt.Printf("signing keys:    %s\n", strings.Join(keys, " "))
	fmt.Print(upstreamLines(cs))
	ret, err := a.store.Retention(a.ctx, bucket)
	if err != nil {
		return err
	}
	fmt.Print(retentionLines(ret))
	if _, err := a.access.BucketPolicy(a.ctx, bucket); err == nil {
		fmt.Printf("policy:          yes (nixbucket bucket policy get %s)\n", bucket)
	} else {
		fmt.Printf("policy:          none (private)\n")
	}
	if st, ok := a.store.(cors.Store); ok {
		if c, err := (&cors.Service{Store: st}).Config(a.ctx, bucket); err == nil && c != nil {
			fmt.Printf("cors:            %d rule(s) (nixbucket bucket cors get %s)\n", len(c.Rules), bucket)
		} else if err == nil {
			fmt.Printf("cors:            none (no web page on another origin may read it)\n")
		}
	}
	return nil
}

func bucketPolicyCmd(fs *flag.FlagSet, data *string, args []string) error {
	switch args[0] {
	case "set":
		pos, err := parse(fs, args[1:], 2, 2, "bucket policy set BUCKET FILE|anonymous-read")
		if err != nil {
			return err
		}
		var doc []byte
		if _, serr := os.Stat(pos[1]); pos[1] == "anonymous-read" && serr != nil {
			doc = anonymousRead(pos[0])
		} else if doc, err = readPolicy(pos[1]); err != nil {
			if errors.Is(err, os.ErrNotExist) && nearest(pos[1], []string{"anonymous-read"}) != "" {
				return fmt.Errorf("%w; did you mean anonymous-read?", err)
			}
			return err
		}
		return withAdmin(*data, func(a *admin) error {
			if err := a.access.SetBucketPolicy(a.ctx, pos[0], doc); err != nil {
				return err
			}
			warnPolicyNames(a, doc, true)
			return nil
		})
	case "get":
		pos, err := parse(fs, args[1:], 1, 1, "bucket policy get BUCKET")
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
		pos, err := parse(fs, args[1:], 1, 1, "bucket policy delete BUCKET")
		if err != nil {
			return err
		}
		return withAdmin(*data, func(a *admin) error { return a.access.DeleteBucketPolicy(a.ctx, pos[0]) })
	}
	return fmt.Errorf("unknown bucket policy command %q\n%s", args[0], bucketUsage)
}

// anonymousRead is the seed's anonymous-read bucket policy for bucket.
func anonymousRead(bucket string) []byte {
	return []byte(fmt.Sprintf(`{
    "Id": "DirectReads",
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AllowDirectReads",
            "Action": [
                "s3:GetObject",
                "s3:GetBucketLocation"
            ],
            "Effect": "Allow",
            "Resource": [
                "arn:aws:s3:::%[1]s",
                "arn:aws:s3:::%[1]s/*"
            ],
            "Principal": "*"
        }
    ]
}
`, bucket))
}

func bucketKeyCmd(fs *flag.FlagSet, data *string, args []string) error {
	switch args[0] {
	case "generate":
		pos, err := parse(fs, args[1:], 1, 2, "bucket key generate BUCKET [NAME]")
		if err != nil {
			return err
		}
		name := ""
		if len(pos) == 2 {
			name = pos[1]
		}
		return withAdmin(*data, func(a *admin) error {
			k, err := binarycache.NewSigningKey(a.ctx, a.store, pos[0], name)
			if err != nil {
				return err
			}
			fmt.Println(k.Public().String())
			return nil
		})
	case "add":
		pos, err := parse(fs, args[1:], 2, 2, "bucket key add BUCKET FILE")
		if err != nil {
			return err
		}
		b, err := os.ReadFile(pos[1])
		if err != nil {
			return err
		}
		k, err := signature.ParseSecretKey(strings.TrimSpace(string(b)))
		if err != nil {
			return fmt.Errorf("%s: %w (want a secret key from nix-store --generate-binary-cache-key)", pos[1], err)
		}
		return withAdmin(*data, func(a *admin) error {
			err := a.store.AddSigningKey(a.ctx, meta.SigningKey{Bucket: pos[0], Name: k.Name(), Secret: k.String(), Created: time.Now().UTC()})
			if err == nil {
				fmt.Println(k.Public().String())
			}
			return err
		})
	case "remove":
		pos, err := parse(fs, args[1:], 2, 2, "bucket key remove BUCKET NAME")
		if err != nil {
			return err
		}
		return withAdmin(*data, func(a *admin) error { return a.store.RemoveSigningKey(a.ctx, pos[0], pos[1]) })
	}
	return fmt.Errorf("unknown bucket key command %q\n%s", args[0], bucketUsage)
}
