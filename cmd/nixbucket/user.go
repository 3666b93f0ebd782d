package main

import (
	"flag"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/nixbucket/nixbucket/internal/policy"
)

const userUsage = `usage:
  nixbucket user create NAME [--policy FILE]   create a user and its first access key
  nixbucket user list
  nixbucket user delete NAME                   delete a user, its keys and tokens
  nixbucket user policy set NAME FILE          set the user's IAM policy ("-" reads stdin)
  nixbucket user policy get NAME
  nixbucket user policy delete NAME
  nixbucket user key create NAME               add an access key (for rotation)
  nixbucket user key disable KEY_ID
  nixbucket user key enable KEY_ID
  nixbucket user key delete KEY_ID
All take --data DIR (env NIXBUCKET_DATA, default ./nixbucket-data), or --meta URL
(env NIXBUCKET_META) for a PostgreSQL store, and work while the server runs.`

func userCmd(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", userUsage)
	}
	fs := flag.NewFlagSet("user "+args[0], flag.ContinueOnError)
	data := dataFlag(fs)
	switch args[0] {
	case "create":
		policyFile := fs.String("policy", "", "IAM policy JSON file for the user")
		pos, err := parse(fs, args[1:], 1, 1, "user create NAME [--policy FILE]")
		if err != nil {
			return err
		}
		doc, err := readPolicy(*policyFile)
		if err != nil {
			return err
		}
		a, err := openAdmin(*data)
		if err != nil {
			return err
		}
		defer a.Close()
		k, err := a.access.CreateUser(a.ctx, pos[0], doc)
		if err != nil {
			return err
		}
		warnPolicyNames(a, doc, false)
		fmt.Fprintf(os.Stderr, "created user %s (%s); append this to ~/.aws/credentials:\n\n", pos[0], policy.UserARN(a.access.Account(), pos[0]))
		fmt.Print(credentialsSection(pos[0], k))
		return nil
	case "list":
		if _, err := parse(fs, args[1:], 0, 0, "user list"); err != nil {
			return err
		}
		a, err := openAdmin(*data)
		if err != nil {
			return err
		}
		defer a.Close()
		return listUsers(a)
	case "delete":
		pos, err := parse(fs, args[1:], 1, 1, "user delete NAME")
		if err != nil {
			return err
		}
		return withAdmin(*data, func(a *admin) error { return a.store.DeleteUser(a.ctx, pos[0]) })
	case "policy":
		return userPolicyCmd(fs, data, args[1:])
	case "key":
		return userKeyCmd(fs, data, args[1:])
	}
	return fmt.Errorf("unknown user command %q\n%s", args[0], userUsage)
}

func withAdmin(data string, fn func(*admin) error) error {
	a, err := openAdmin(data)
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(a)
}

func listUsers(a *admin) error {
	users, err := a.store.Users(a.ctx)
	if err != nil {
		return err
	}
	keys, err := a.store.AccessKeys(a.ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tARN\tPOLICY\tACCESS KEYS")
	for _, u := range users {
		pol := "-"
		if u.Policy != nil {
			pol = "yes"
		}
		var ks string
		for _, k := range keys {
			if k.User == u.Name {
				state := ""
				if !k.Enabled {
					state = " (disabled)"
				}
				if ks != "" {
					ks += ", "
				}
				ks += k.ID + state
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, policy.UserARN(a.access.Account(), u.Name), pol, ks)
	}
	return tw.Flush()
}

func userPolicyCmd(fs *flag.FlagSet, data *string, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", userUsage)
	}
	switch args[0] {
	case "set":
		pos, err := parse(fs, args[1:], 2, 2, "user policy set NAME FILE")
		if err != nil {
			return err
		}
		doc, err := readPolicy(pos[1])
		if err != nil {
			return err
		}
		return withAdmin(*data, func(a *admin) error {
			if err := a.access.SetUserPolicy(a.ctx, pos[0], doc); err != nil {
				return err
			}
			warnPolicyNames(a, doc, false)
			return nil
		})
	case "get":
		pos, err := parse(fs, args[1:], 1, 1, "user policy get NAME")
		if err != nil {
			return err
		}
		return withAdmin(*data, func(a *admin) error {
			u, err := a.store.User(a.ctx, pos[0])
			if err != nil {
				return err
			}
			if u.Policy == nil {
				return fmt.Errorf("user %s has no policy", pos[0])
			}
			_, err = os.Stdout.Write(u.Policy)
			return err
		})
	case "delete":
		pos, err := parse(fs, args[1:], 1, 1, "user policy delete NAME")
		if err != nil {
			return err
		}
		return withAdmin(*data, func(a *admin) error { return a.access.SetUserPolicy(a.ctx, pos[0], nil) })
	}
	return fmt.Errorf("unknown user policy command %q\n%s", args[0], userUsage)
}

func userKeyCmd(fs *flag.FlagSet, data *string, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", userUsage)
	}
	switch args[0] {
	case "create":
		pos, err := parse(fs, args[1:], 1, 1, "user key create NAME")
		if err != nil {
			return err
		}
		return withAdmin(*data, func(a *admin) error {
			k, err := a.access.CreateKey(a.ctx, pos[0])
			if err != nil {
				return err
			}
			fmt.Print(credentialsSection(pos[0], k))
			return nil
		})
	case "disable", "enable":
		pos, err := parse(fs, args[1:], 1, 1, "user key "+args[0]+" KEY_ID")
		if err != nil {
			return err
		}
		return withAdmin(*data, func(a *admin) error { return a.store.SetAccessKeyEnabled(a.ctx, pos[0], args[0] == "enable") })
	case "delete":
		pos, err := parse(fs, args[1:], 1, 1, "user key delete KEY_ID")
		if err != nil {
			return err
		}
		return withAdmin(*data, func(a *admin) error { return a.store.DeleteAccessKey(a.ctx, pos[0]) })
	}
	return fmt.Errorf("unknown user key command %q\n%s", args[0], userUsage)
}
