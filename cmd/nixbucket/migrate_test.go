package main

import (
	"strings"
	"testing"
)

// TestMigrateRefusals: migrate says what is wrong with its arguments, and
// touches nothing, before it connects anywhere.
func TestMigrateRefusals(t *testing.T) {
	empty := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--to-meta", "postgres://u@127.0.0.1:1/db"}, 2, "--from-data DIR is required"},
		{[]string{"--from-data", empty}, 2, "--to-meta postgres://… or --to-blobs s3://… (or both) is required"},
		{[]string{"--from-data", empty, "--to-meta", "mysql://u:secret@h/db"}, 2, `--to-meta "mysql://u:xxxxx@h/db": want postgres://`},
		{[]string{"--from-data", empty, "--to-meta", "postgres://u@127.0.0.1:1/db"}, 1, "no nixbucket data in " + empty},
	} {
		r := run(t, nil, append([]string{"migrate"}, c.args...)...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("migrate %q: exit %d, stderr %q; want exit %d and %q", c.args, r.code, r.stderr, c.code, c.want)
		}
	}
}
