package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/nixbucket/nixbucket/internal/meta"
)

const tokenUsage = `usage:
  nixbucket token create --user NAME [--expires 30d] [--policy FILE]
  nixbucket token list
  nixbucket token revoke TOKEN_ID
A token is a secret for plain-HTTP clients: send it as "Authorization: Bearer
TOKEN", or as the password of HTTP Basic / a netrc line with the user's name
as login. It acts as its user, narrowed by its own policy when it has one.`

func tokenCmd(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", tokenUsage)
	}
	fs := flag.NewFlagSet("token "+args[0], flag.ContinueOnError)
	data := dataFlag(fs)
	switch args[0] {
	case "create":
		user := fs.String("user", "", "the user the token acts as (required)")
		expires := fs.String("expires", "", "lifetime, e.g. 30d, 12h (default: never)")
		policyFile := fs.String("policy", "", "IAM policy JSON file narrowing the token")
		if _, err := parse(fs, args[1:], 0, 0, "token create --user NAME [--expires 30d] [--policy FILE]"); err != nil {
			return err
		}
		if *user == "" {
			return fmt.Errorf("token create: --user is required")
		}
		ttl, err := parseTTL(*expires)
		if err != nil {
			return fmt.Errorf("token create: --expires: %w", err)
		}
		doc, err := readPolicy(*policyFile)
		if err != nil {
			return err
		}
		return withAdmin(*data, func(a *admin) error {
			if _, err := a.store.User(a.ctx, *user); errors.Is(err, meta.ErrNoSuchUser) {
				return fmt.Errorf("token create: there is no user %q (nixbucket user list shows them; nixbucket user create %s makes one)", *user, *user)
			}
			text, t, err := a.access.CreateToken(a.ctx, *user, ttl, doc)
			if err != nil {
				return err
			}
			warnPolicyNames(a, doc, false)
			exp := "never expires"
			if !t.Expires.IsZero() {
				exp = "expires " + t.Expires.Format(time.RFC3339)
			}
			fmt.Fprintf(os.Stderr, "token %s for %s (%s). It is shown only now; use it as a Bearer token,\nor in a netrc line: machine HOST login %s password TOKEN\n\n", t.ID, *user, exp, *user)
			fmt.Println(text)
			return nil
		})
	case "list":
		if _, err := parse(fs, args[1:], 0, 0, "token list"); err != nil {
			return err
		}
		return withAdmin(*data, func(a *admin) error {
			toks, err := a.store.Tokens(a.ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tUSER\tCREATED\tEXPIRES\tPOLICY")
			for _, t := range toks {
				exp, pol := "never", "-"
				if !t.Expires.IsZero() {
					exp = t.Expires.Format(time.RFC3339)
					if time.Now().After(t.Expires) {
						exp += " (expired)"
					}
				}
				if t.Policy != nil {
					pol = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.User, t.Created.Format(time.RFC3339), exp, pol)
			}
			return tw.Flush()
		})
	case "revoke":
		pos, err := parse(fs, args[1:], 1, 1, "token revoke TOKEN_ID")
		if err != nil {
			return err
		}
		return withAdmin(*data, func(a *admin) error { return a.store.DeleteToken(a.ctx, pos[0]) })
	}
	return fmt.Errorf("unknown token command %q\n%s", args[0], tokenUsage)
}
