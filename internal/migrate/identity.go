package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nixbucket/nixbucket/internal/meta"
)

// skipSetting reports settings that belong to one store and are never
// copied: migrate's own marks.
func skipSetting(name string) bool {
	return name == meta.SettingMigrateSource || name == meta.SettingMigrating || strings.HasPrefix(name, "migrate-")
}

// copySettings copies every server-wide setting (the account id among
// them) but migrate's own.
func (c *Copier) copySettings(ctx context.Context) error {
	l, ok := c.From.Meta.(meta.SettingsLister)
	if !ok {
		return fmt.Errorf("migrate: the source store (%T) cannot list its settings", c.From.Meta)
	}
	all, err := c.settings(ctx, l)
	if err != nil {
		return fmt.Errorf("migrate: reading the source's settings: %w", err)
	}
	for _, name := range sortedKeys(all) {
		if skipSetting(name) {
			continue
		}
		have, err := c.To.Meta.Setting(ctx, name)
		if err != nil {
			return fmt.Errorf("migrate: setting %s: %w", name, err)
		}
		if have == all[name] {
			c.tally.add(false, "settings", 1)
			continue
		}
		if err := c.To.Meta.SetSetting(ctx, name, all[name]); err != nil {
			return fmt.Errorf("migrate: setting %s: %w", name, err)
		}
		c.tally.add(true, "settings", 1)
	}
	return nil
}

// settings returns the settings the destination should hold: the
// source's, with c.Settings instead where it names them.
func (c *Copier) settings(ctx context.Context, l meta.SettingsLister) (map[string]string, error) {
	all, err := l.Settings(ctx)
	if err != nil {
		return nil, err
	}
	for name, v := range c.Settings {
		all[name] = v
	}
	return all, nil
}

// copyIdentities copies users with their policies, then access keys
// (secrets, owners, enabled or not), then tokens (whose users must exist
// first).
func (c *Copier) copyIdentities(ctx context.Context) error {
	from, to := c.From.Meta, c.To.Meta
	users, err := from.Users(ctx)
	if err != nil {
		return fmt.Errorf("migrate: reading the source's users: %w", err)
	}
	for _, u := range users {
		have, err := to.User(ctx, u.Name)
		switch {
		case errors.Is(err, meta.ErrNoSuchUser):
			if err := to.CreateUser(ctx, u); err != nil {
				return fmt.Errorf("migrate: user %s: %w", u.Name, err)
			}
			c.tally.add(true, "users", 1)
		case err != nil:
			return fmt.Errorf("migrate: user %s: %w", u.Name, err)
		case !bytes.Equal(have.Policy, u.Policy):
			if err := to.SetUserPolicy(ctx, u.Name, u.Policy); err != nil {
				return fmt.Errorf("migrate: policy of user %s: %w", u.Name, err)
			}
			c.tally.add(true, "users", 1)
		default:
			c.tally.add(false, "users", 1)
		}
	}

	keys, err := from.AccessKeys(ctx)
	if err != nil {
		return fmt.Errorf("migrate: reading the source's access keys: %w", err)
	}
	for _, k := range keys {
		have, err := to.AccessKey(ctx, k.ID)
		switch {
		case errors.Is(err, meta.ErrNoSuchAccessKey):
			if err := to.PutAccessKey(ctx, k); err != nil {
				return fmt.Errorf("migrate: access key %s: %w", k.ID, err)
			}
			c.tally.add(true, "access keys", 1)
		case err != nil:
			return fmt.Errorf("migrate: access key %s: %w", k.ID, err)
		case have.Secret != k.Secret || have.User != k.User:
			return fmt.Errorf("migrate: access key %s is another key in the destination (of user %q): %w", k.ID, have.User, ErrConflict)
		case have.Enabled != k.Enabled:
			if err := to.SetAccessKeyEnabled(ctx, k.ID, k.Enabled); err != nil {
				return fmt.Errorf("migrate: access key %s: %w", k.ID, err)
			}
			c.tally.add(true, "access keys", 1)
		default:
			c.tally.add(false, "access keys", 1)
		}
	}

	tokens, err := from.Tokens(ctx)
	if err != nil {
		return fmt.Errorf("migrate: reading the source's tokens: %w", err)
	}
	for _, t := range tokens {
		have, err := to.Token(ctx, t.ID)
		switch {
		case errors.Is(err, meta.ErrNoSuchToken):
			if err := to.PutToken(ctx, t); err != nil {
				return fmt.Errorf("migrate: token %s: %w", t.ID, err)
			}
			c.tally.add(true, "tokens", 1)
		case err != nil:
			return fmt.Errorf("migrate: token %s: %w", t.ID, err)
		case !sameToken(have, t):
			return fmt.Errorf("migrate: token %s is another token in the destination (of user %q): %w", t.ID, have.User, ErrConflict)
		default:
			c.tally.add(false, "tokens", 1)
		}
	}
	return nil
}

func sameToken(a, b meta.Token) bool {
	return a.User == b.User && bytes.Equal(a.Hash, b.Hash) && sameTime(a.Expires, b.Expires) &&
		bytes.Equal(a.Policy, b.Policy)
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
