package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/nixbucket/nixbucket/internal/policy"
)

// warnPolicyNames warns, on standard error, about the users, accounts and
// buckets a policy just stored names but this server does not have: a
// typo there ("cache-raeder", an AWS account id copied from elsewhere, a
// bucket name off by a letter) leaves a grant that applies to no one, with
// nothing else to say so. The policy is stored all the same, as AWS stores
// an identity policy naming a bucket not made yet. bucketPolicy says which
// parser doc passed.
func warnPolicyNames(a *admin, doc []byte, bucketPolicy bool) {
	if len(doc) == 0 {
		return
	}
	parse := policy.ParseIdentity
	if bucketPolicy {
		parse = policy.ParseBucket
	}
	p, err := parse(doc)
	if err != nil {
		return
	}
	n := p.Names()
	account := a.access.Account()
	var users []string
	if us, err := a.store.Users(a.ctx); err == nil {
		for _, u := range us {
			users = append(users, u.Name)
		}
	}
	for _, pr := range n.Principals {
		acct, user := pr, ""
		if rest, ok := strings.CutPrefix(pr, "arn:aws:iam::"); ok {
			acct, user, _ = strings.Cut(rest, ":")
			user, _ = strings.CutPrefix(user, "user/")
		}
		switch {
		case acct != account:
			fmt.Fprintf(os.Stderr, "warning: the policy names %s, of the account %s, but this server's account is %s (nixbucket serve --account): that principal is no one here\n", pr, acct, account)
		case user != "" && !strings.ContainsAny(user, "*?") && !slices.Contains(users, user):
			fmt.Fprintf(os.Stderr, "warning: the policy names %s, but there is no user %s (users: %s): it applies to no one until that user is created\n", pr, user, list(users))
		}
	}
	if len(n.Buckets) == 0 {
		return
	}
	bs, err := a.store.Buckets(a.ctx)
	if err != nil {
		return
	}
	var buckets []string
	for _, b := range bs {
		buckets = append(buckets, b.Name)
	}
	for _, b := range n.Buckets {
		if !slices.Contains(buckets, b) {
			fmt.Fprintf(os.Stderr, "warning: the policy names the bucket %s, which does not exist (buckets: %s): it grants nothing there until it is created\n", b, list(buckets))
		}
	}
}

// list is names for a message: "none", or the first ten.
func list(names []string) string {
	switch {
	case len(names) == 0:
		return "none"
	case len(names) > 10:
		return strings.Join(names[:10], ", ") + fmt.Sprintf(", … (%d in all)", len(names))
	}
	return strings.Join(names, ", ")
}
